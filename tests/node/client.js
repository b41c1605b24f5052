// Test client: connects with socket.io-client, runs a plan, prints one JSON line per event.
// Usage: node client.js <url> '<plan JSON>'
//   plan = {key?, transports?, jobs?: [{media_url, media_type?, job_id?}], subscribe?: [job_id],
//           timeoutMs?, avoidServer?}
// The plan runs once connection_status has arrived; with avoidServer, a connection held by that
// ingress replica exits with code 3 at once (the caller retries to reach another replica).
// Exits 0 once every started/subscribed job has ended (analysis_complete / analysis_error),
// or once a refused connection has printed its connect_error; 1 on timeout.
const { io } = require('socket.io-client');

const [url, planText] = process.argv.slice(2);
const plan = JSON.parse(planText || '{}');
const out = (event, data) => console.log(JSON.stringify({ event, data, t: Date.now() / 1000 }));

const socket = io(url, {
  auth: plan.key ? { api_key: plan.key } : {},
  transports: plan.transports || ['websocket'],
  reconnection: false,
});
const finished = new Set();
let expected = null; // job ids to wait for, known once every ack has come back
const finish = (code) => { socket.close(); process.exit(code); };
const check = () => {
  if (expected !== null && [...expected].every((id) => finished.has(id))) { clearTimeout(timer); finish(0); }
};
const timer = setTimeout(() => {
  out('timeout', { waiting: expected ? [...expected].filter((id) => !finished.has(id)) : null });
  finish(1);
}, plan.timeoutMs || 60000);

socket.on('connect_error', (err) => {
  out('connect_error', { message: err.message, data: err.data || null });
  clearTimeout(timer);
  finish(0);
});
socket.on('progress_update', (data) => out('progress_update', data));
const done = (event) => (data) => {
  out(event, data);
  finished.add(data.jobId || data.job_id);
  check();
};
socket.on('analysis_complete', done('analysis_complete'));
socket.on('analysis_error', done('analysis_error'));

socket.on('connection_status', async (data) => {
  out('connection_status', data);
  if (plan.avoidServer && data.server === plan.avoidServer) { clearTimeout(timer); finish(3); return; }
  const ids = new Set();
  for (const jobId of plan.subscribe || []) {
    out('ack', await socket.emitWithAck('subscribe', { job_id: jobId }));
    ids.add(jobId);
  }
  const acks = await Promise.all((plan.jobs || []).map((job) => socket.emitWithAck('start_analysis', job)));
  for (const ack of acks) {
    out('ack', ack);
    if (ack.ok) ids.add(ack.job_id);
  }
  expected = ids;
  check();
});
