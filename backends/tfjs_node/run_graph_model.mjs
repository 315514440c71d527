// poseexport's TF.js runner: one Node process per opened artifact, fed through stdin/stdout.
//
//   node run_graph_model.mjs --packages DIR --model DIR/model.json --backend wasm|cpu
//                            [--threads N] --outputs KEY,KEY,...
//
// DIR holds node_modules with @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm (installed once
// with `npm ci`, see package.json beside this file); nothing is fetched from a network.
// The graph model is read from disk (model.json and the weight shards it lists, which must lie in
// its own folder) and handed to tf.io.fromMemory: Node needs no tfjs-node native binaries.
//
// Frames, both directions: a uint32 little-endian length, that many bytes of UTF-8 JSON (the
// header), then the payloads the header announces, back to back (`nbytes`).
//   Node -> Python, once at start: {"ready": true, backend, wasm: {simd, threads}, versions, ...}
//                  or {"ok": false, "error": "..."} before exiting with status 1
//   Python -> Node: {"shape": [...], "dtype": "float32", "nbytes": [n]} + the input tensor
//   Node -> Python: {"ok": true, "outputs": [{"shape", "dtype"}...], "nbytes": [...]} + outputs
//                   (little-endian float32 / int32, in the order --outputs gives)
//                or {"ok": false, "error": "..."} (the process stays up for the next request)
// stdout carries frames only: everything TF.js logs goes to stderr.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

console.log = console.info = console.debug = (...args) => console.error(...args);

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const need of ['packages', 'model', 'backend', 'outputs']) {
    if (args[need] === undefined) throw new Error(`missing --${need}`);
  }
  return args;
}

function writeFrame(header, payloads = []) {
  const body = Buffer.from(JSON.stringify({ ...header, nbytes: payloads.map((p) => p.byteLength) }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length, 0);
  for (const chunk of [length, body, ...payloads]) writeAll(chunk);
}

// fs.writeSync may write part of a chunk, or throw EAGAIN on a pipe that is full for a moment
function writeAll(chunk) {
  const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let done = 0;
  while (done < bytes.length) {
    try {
      done += fs.writeSync(1, bytes, done, bytes.length - done);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);  // 5 ms, then again
    }
  }
}

// the weight shards, concatenated in manifest order (paths must stay inside the model's folder)
function readWeights(modelDir, manifest) {
  const buffers = [];
  for (const group of manifest) {
    for (const rel of group.paths) {
      const file = path.resolve(modelDir, rel);
      if (path.relative(modelDir, file).startsWith('..') || path.isAbsolute(rel)) {
        throw new Error(`weight shard ${rel} lies outside the model folder ${modelDir}`);
      }
      buffers.push(fs.readFileSync(file));
    }
  }
  const all = Buffer.concat(buffers);
  return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
}

async function openModel(args) {
  const require = createRequire(path.join(path.resolve(args.packages), 'package.json'));
  const tf = require('@tensorflow/tfjs');
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  tf.env().set('PROD', true);  // no debug checks (the default in Node is PROD already; be explicit)
  const info = { backend: args.backend, versions: { tfjs: tf.version.tfjs, node: process.versions.node } };
  if (args.backend === 'wasm') {
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dist + path.sep);
    if (args.threads) wasm.setThreadsCount(Number(args.threads));
    info.versions['tfjs-backend-wasm'] = wasm.version_wasm;
  }
  if (!(await tf.setBackend(args.backend))) {  // never a silent fall-back to another backend
    throw new Error(`the TF.js backend '${args.backend}' failed to initialise (see the lines above)`);
  }
  await tf.ready();
  if (tf.getBackend() !== args.backend) throw new Error(`TF.js runs on ${tf.getBackend()}, not ${args.backend}`);
  if (args.backend === 'wasm') {
    info.wasm = { simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
                  multithread: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
                  threads: wasm.getThreadsCount() };
  }
  const modelPath = path.resolve(args.model);
  const modelDir = path.dirname(modelPath);
  const json = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const artifacts = await tf.io.getModelArtifactsForJSON(
    json, async (manifest) => [tf.io.getWeightSpecs(manifest), readWeights(modelDir, manifest)]);
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const outputs = args.outputs.split(',');
  const known = Object.keys((json.signature || {}).outputs || {});
  const unknown = outputs.filter((k) => !known.includes(k));
  if (unknown.length) throw new Error(`the model has no output ${unknown.join(', ')} (it has ${known.join(', ')})`);
  // GraphModel.execute names outputs by their graph tensors; the signature maps keys to those
  const tensors = outputs.map((k) => json.signature.outputs[k].name);
  const input = Object.values(json.signature.inputs)[0].name;
  return { tf, model, tensors, input, info };
}

const DTYPES = { float32: Float32Array, int32: Int32Array };

function run(session, header, payload) {
  const { tf, model, tensors, input } = session;
  if (header.dtype !== 'float32') throw new Error(`input dtype ${header.dtype}: this model takes float32`);
  const data = new Float32Array(payload.buffer, payload.byteOffset, payload.byteLength / 4);
  const x = tf.tensor(data, header.shape, 'float32');
  try {
    const got = model.execute({ [input]: x }, tensors);
    const outs = Array.isArray(got) ? got : [got];
    const described = [], payloads = [];
    for (const t of outs) {
      const values = t.dataSync();
      if (!(t.dtype in DTYPES)) throw new Error(`output dtype ${t.dtype} is not supported`);
      described.push({ shape: t.shape, dtype: t.dtype });
      payloads.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
      t.dispose();
    }
    return [{ ok: true, outputs: described }, payloads];
  } finally {
    x.dispose();
  }
}

async function main() {
  let session;
  try {
    session = await openModel(parseArgs(process.argv.slice(2)));
  } catch (err) {
    writeFrame({ ok: false, error: String(err && err.stack || err) });
    process.exit(1);
  }
  writeFrame({ ready: true, ok: true, ...session.info });
  let pending = Buffer.alloc(0);
  process.stdin.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {  // every complete frame in the buffer, in order
      if (pending.length < 4) return;
      const headerLength = pending.readUInt32LE(0);
      if (pending.length < 4 + headerLength) return;
      const header = JSON.parse(pending.subarray(4, 4 + headerLength).toString('utf8'));
      const size = (header.nbytes || []).reduce((a, b) => a + b, 0);
      if (pending.length < 4 + headerLength + size) return;
      const payload = Buffer.from(pending.subarray(4 + headerLength, 4 + headerLength + size));
      pending = pending.subarray(4 + headerLength + size);
      try {
        const [reply, payloads] = run(session, header, payload);
        writeFrame(reply, payloads);
      } catch (err) {
        writeFrame({ ok: false, error: String(err && err.stack || err) });
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));  // the Python side closed: done
}

main();
