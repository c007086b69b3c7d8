import WebSocket from 'ws';
const [alloc] = await (await fetch('http://127.0.0.1:4646/v1/job/berth-smoke-raw/allocations')).json();
console.log(alloc.ID, alloc.TaskStates && Object.keys(alloc.TaskStates));
const task = Object.keys(alloc.TaskStates)[0];
for (const cmd of [['nonexistent-binary-xyz'], ['sh', '-c', 'exit 7']]) {
  const ws = new WebSocket(`ws://127.0.0.1:4646/v1/client/allocation/${alloc.ID}/exec?task=${task}&tty=false&command=${encodeURIComponent(JSON.stringify(cmd))}`);
  await new Promise<void>((resolve) => {
    ws.on('open', () => { ws.send(JSON.stringify({ stdin: { close: true } })); });
    ws.on('message', (d) => console.log('msg', d.toString()));
    ws.on('close', (code, reason) => { console.log('close', code, reason.toString()); resolve(); });
    ws.on('error', (e) => console.log('error', e.message));
  });
}
