// The queue's pure parts: grid plans (dependencies, cycles, what may start, what a failure blocks), queue
// URLs (forms, password masking, refusals), queue names and job data checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { blockedRuns, checkPlan, readyRuns } from '../experiments/queue/plan.js';
import { maskPassword, parseRedisUrl } from '../experiments/queue/redis-url.js';
import { queueName } from '../experiments/queue/names.js';
import { parseJobData } from '../experiments/queue/jobs.js';
import type { GridPlan } from '../experiments/queue/executor.js';

const plan: GridPlan = {
  experiment: 'difficulty',
  runs: [
    { name: 'classify-1', dependsOn: [] }, { name: 'classify-2', dependsOn: [] },
    { name: 'rm3', dependsOn: ['classify-1', 'classify-2'] }, { name: 'sgd', dependsOn: ['classify-1', 'classify-2'] },
    { name: 'summary', dependsOn: ['rm3'] }, { name: 'alone', dependsOn: [] },
  ],
};

test('ready runs wait for all their dependencies; a failure blocks everything downstream of it only', () => {
  checkPlan(plan);
  assert.equal(readyRuns(plan, new Set(), new Set()), ['classify-1', 'classify-2', 'alone']);
  assert.equal(readyRuns(plan, new Set(['classify-1']), new Set(['classify-1', 'classify-2', 'alone'])), []);
  const two = new Set(['classify-1', 'classify-2']);
  assert.equal(readyRuns(plan, two, new Set([...two, 'alone'])), ['rm3', 'sgd']);
  assert.equal(blockedRuns(plan, new Set(['classify-2'])), ['rm3', 'sgd', 'summary']);
  assert.equal(blockedRuns(plan, new Set(['rm3'])), ['summary']);
  assert.equal(blockedRuns(plan, new Set(['alone'])), []);
});

test('plans with a cycle, an unknown dependency or a repeated run are refused', () => {
  assert.throws(() => checkPlan({ experiment: 'x', runs: [{ name: 'a', dependsOn: ['b'] }, { name: 'b', dependsOn: ['a'] }] }), /form a cycle/);
  assert.throws(() => checkPlan({ experiment: 'x', runs: [{ name: 'a', dependsOn: ['nope'] }] }), /depends on nope, which is not in the grid/);
  assert.throws(() => checkPlan({ experiment: 'x', runs: [{ name: 'a', dependsOn: [] }, { name: 'a', dependsOn: [] }] }), /names run a twice/);
});

test('redis:// and rediss:// URLs: host, port, database, user, password (decoded), TLS; the password is masked', () => {
  const t = parseRedisUrl('rediss://alice:p%40ss%20word@redis.example.org:6380/3');
  assert.equal({ ...t }, {
    host: 'redis.example.org', port: 6380, db: 3, username: 'alice', password: 'p@ss word', tls: true, display: 'rediss://alice:***@redis.example.org:6380/3',
  });
  const d = parseRedisUrl('redis://10.0.0.5');
  assert.equal([d.host, d.port, d.db, d.password, d.tls, d.display], ['10.0.0.5', 6379, 0, undefined, false, 'redis://10.0.0.5']);
  assert.is(parseRedisUrl('redis://:secret@[::1]:7000').host, '::1');
  assert.is(maskPassword('redis://:secret@h:1/0'), 'redis://:***@h:1/0');
  assert.throws(() => parseRedisUrl('http://h:6379'), /is not a redis:\/\/ or rediss:\/\/ URL/);
  assert.throws(() => parseRedisUrl('redis://h:6379/zero'), /the database "zero" is not a number/);
  assert.throws(() => parseRedisUrl('redis://h:6379/0?password=x'), /\?query/);
  for (const bad of ['not a url :secret@', 'redis://h:6379/0?password=secret', 'redis://:secret@h:6379/x']) {
    assert.throws(() => parseRedisUrl(bad), (e: Error) => !e.message.includes('secret'), bad);
  }
});

test('queue names follow the folder; job data is only {folder, run} naming this queue\'s folder', () => {
  const dir = path.resolve('runs/label-noise-mnist');
  assert.match(queueName(dir), /^cgh-label-noise-mnist-[0-9a-f]{10}$/);
  assert.is(queueName('runs/label-noise-mnist'), queueName(dir));
  assert.is.not(queueName('/a/runs/label-noise-mnist'), queueName('/b/runs/label-noise-mnist'));
  const q = queueName(dir);
  assert.equal(parseJobData({ folder: dir, run: 'noise-0' }, q, true), { folder: dir, run: 'noise-0' });
  assert.equal(parseJobData({ folder: dir }, q, false), { folder: dir });
  assert.throws(() => parseJobData({ folder: dir, run: 'noise-0', shell: 'rm -rf /' }, q, true), /carries \{folder,run,shell\}/);
  assert.throws(() => parseJobData({ folder: '/elsewhere', run: 'noise-0' }, q, true), /not the folder of queue/);
  assert.throws(() => parseJobData({ folder: dir, run: 7 }, q, true), /not a run name/);
  assert.throws(() => parseJobData('noise-0', q, true), /no \{folder, run\} object/);
});

test.run();
