import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../engine/safetensors.js';

/** A file laid out by hand from the format description, independently of the encoder. */
function handMade(header: unknown, data: Uint8Array, rawHeader?: string | Uint8Array): Uint8Array {
  const json = rawHeader instanceof Uint8Array ? rawHeader : new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

test('round trip of F32, F64, I32, I64 and U8 tensors with metadata, data 8-byte aligned', () => {
  const w = Float32Array.from({ length: 21 }, (_, i) => Math.sin(i) * 1e-3 + (i === 3 ? -0 : 0));
  const tensors = [
    { name: 'layers.0.weight', shape: [3, 7], data: w },
    { name: 'layers.0.bias', shape: [3], data: new Float32Array([1.5, -2, 3e-30]) },
    { name: 'scalar', shape: [], data: new Float32Array([42]) },
    { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
    { name: 'f64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    { name: 'i32', shape: [2], data: new Int32Array([-5, 2 ** 31 - 1]) },
    { name: 'num_batches_tracked', shape: [], data: new BigInt64Array([123456789012n]) },
    { name: 'mask', shape: [3], data: new Uint8Array([0, 1, 255]) },
  ];
  const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is((8 + headerLen) % 8, 0, 'data section starts 8-byte aligned');
  const { tensors: back, metadata } = decodeSafetensors(bytes);
  assert.equal(metadata, { format: 'pt', note: 'ünïcode' });
  assert.equal([...back.keys()], tensors.map((t) => t.name));
  for (const t of tensors) {
    const b = back.get(t.name)!;
    assert.equal(b.shape, t.shape, t.name);
    assert.is(b.data.constructor, t.data.constructor, `${t.name} type`);
    // Bitwise equality (covers -0 and denormal-range values).
    assert.equal([...new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength)], [...new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)], t.name);
  }
  assert.is(back.get('layers.0.weight')!.dtype, 'F32');
  assert.is(back.get('num_batches_tracked')!.dtype, 'I64');
});

test('decodes a hand-laid file (unordered header, unaligned offsets) like the format says', () => {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new BigInt64Array([7n, -8n]);
  const data = new Uint8Array(16 + 24);
  data.set(bytesOf(b), 0);
  data.set(bytesOf(a), 16);
  const file = handMade({ b: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, a: { dtype: 'F32', shape: [2, 3], data_offsets: [16, 40] }, __metadata__: { k: 'v' } }, data);
  const { tensors, metadata } = decodeSafetensors(file);
  assert.equal([...(tensors.get('a')!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  assert.equal(tensors.get('a')!.shape, [2, 3]);
  assert.equal([...(tensors.get('b')!.data as BigInt64Array)], [7n, -8n]);
  assert.equal(metadata, { k: 'v' });
});

test('decodes from a Node Buffer that shares a pooled ArrayBuffer (as readFileSync returns)', () => {
  const bytes = encodeSafetensors([{ name: 'w', shape: [3], data: new Float32Array([1, -2, 0.5]) }]);
  const pooled = Buffer.from(bytes); // small Buffers live at an offset inside a larger shared pool
  const { tensors } = decodeSafetensors(pooled);
  const w = tensors.get('w')!.data as Float32Array;
  assert.equal([...w], [1, -2, 0.5]);
  assert.is(w.buffer.byteLength, 12, 'the tensor owns exactly its bytes');
});

test('malformed files each give a SafetensorsError naming the file and the problem', () => {
  const four = bytesOf(new Float32Array([1]));
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /fewer than the 8-byte header length/],
    ['header length past the end', (() => { const f = handMade({}, new Uint8Array(0)); new DataView(f.buffer).setUint32(0, 999, true); return f; })(), /header length 999 exceeds/],
    ['header not JSON', handMade(null, four, '{"a": [1,'), /not UTF-8 JSON/],
    ['header not UTF-8', handMade(null, four, new Uint8Array([0x7b, 0xff, 0x7d])), /not UTF-8 JSON/],
    ['header an array', handMade([1, 2], four), /not a JSON object/],
    ['unknown dtype', handMade({ t: { dtype: 'F8', shape: [1], data_offsets: [0, 4] } }, four), /unknown dtype "F8"/],
    ['bad shape', handMade({ t: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, four), /shape \[1.5\]/],
    ['bad offsets', handMade({ t: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, four), /data_offsets \[4,0\]/],
    ['truncated data', handMade({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, four), /ends at byte 8 but the data section holds 4 bytes \(truncated file\?\)/],
    ['size does not match the shape', handMade({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, four), /spans 4 bytes but shape \[2\] of F32 needs 8/],
    ['overlap', handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /"a" and "b" overlap/],
    ['metadata not strings', handMade({ __metadata__: { n: 1 } }, new Uint8Array(0)), /__metadata__.n is not a string/],
  ];
  for (const [what, bytes, pattern] of cases) {
    try {
      decodeSafetensors(bytes, 'ck.safetensors');
      assert.unreachable(`${what}: decoded`);
    } catch (e) {
      assert.instance(e, SafetensorsError, what);
      const msg = (e as Error).message;
      assert.ok(msg.startsWith('ck.safetensors is not a valid safetensors file: '), `${what}: ${msg}`);
      assert.match(msg, pattern, what);
      assert.not.match(msg, /\n/, `${what}: one line`);
    }
  }
});

test('the encoder refuses duplicate names, wrong byte counts and non-string metadata', () => {
  const x = new Float32Array(2);
  assert.throws(() => encodeSafetensors([{ name: 'a', shape: [2], data: x }, { name: 'a', shape: [2], data: x }]), /used twice/);
  assert.throws(() => encodeSafetensors([{ name: 'a', shape: [3], data: x }]), /holds 8 bytes but shape \[3\] of F32 needs 12/);
  assert.throws(() => encodeSafetensors([{ name: '__metadata__', shape: [2], data: x }]), /reserved/);
  assert.throws(() => encodeSafetensors([], { n: 1 as unknown as string }), /must be strings/);
});

test.run();
