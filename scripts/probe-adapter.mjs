// Exits 0 when Dawn finds a WebGPU adapter, 1 otherwise (used by .ci/run to decide whether to install a software driver).
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
globalThis.__probeGpu = create([]);
const adapter = await globalThis.__probeGpu.requestAdapter();
if (!adapter) { console.log('no WebGPU adapter'); process.exit(1); }
console.log(`WebGPU adapter: ${adapter.info.description || adapter.info.vendor || 'unknown'}`);
process.exit(0);
