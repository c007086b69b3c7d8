import { fetch, Agent } from 'undici';
const t0 = Date.now();
process.on('exit', () => console.log('exit after', Date.now() - t0));
try { await fetch('http://127.0.0.1:4999/v1/status/leader', { dispatcher: new Agent({ connect: { timeout: 5000 } }) }); } catch (e) { console.log((e as any).cause?.code); }
try { const r = await fetch('http://10.255.255.1:4646/v1/status/leader', { dispatcher: new Agent({ connect: { timeout: 2000 } }) }); console.log(r.status) } catch (e) { console.log('err', (e as any).cause?.code); }
