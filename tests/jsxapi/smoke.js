// Cisco's jsxapi 6 against xmacro's simulator. Run by tests/jsxapi.rs as
// `node smoke.js ws://127.0.0.1:PORT`; prints one JSON line per step and
// exits 0 only when every step saw what a real codec would give.
'use strict';
const jsxapi = require('jsxapi');

const url = process.argv[2];
const fail = (why) => { console.error('FAIL: ' + why); process.exit(1); };
setTimeout(() => fail('timed out'), 15000).unref();
const step = (name, value) => console.log(JSON.stringify({ step: name, value }));
const until = (pred, what) => new Promise((resolve) => {
  const t = setInterval(() => { if (pred()) { clearInterval(t); resolve(); } }, 10);
  setTimeout(() => { clearInterval(t); fail('no ' + what); }, 5000).unref();
});

const xapi = jsxapi.connect(url, { username: 'admin', password: '' });
xapi.on('error', (e) => fail('connection error: ' + e));
xapi.on('ready', async () => {
  try {
    const volume = await xapi.Status.Audio.Volume.get();
    step('status', volume);
    if (typeof volume !== 'number') fail('volume is not a number: ' + volume);

    const seen = [];
    xapi.Status.Audio.Volume.on((v) => seen.push(v));
    const events = [];
    xapi.Event.Message.Send.on((e) => events.push(e));
    // Let both subscriptions register before causing the changes.
    await new Promise((r) => setTimeout(r, 200));

    const res = await xapi.Command.Audio.Volume.Set({ Level: 33 });
    step('command', res);
    await until(() => seen.includes(33), 'status feedback for Volume 33');
    step('status-feedback', seen);

    await xapi.Config.SystemUnit.Name.set('jsxapi-room');
    const name = await xapi.Config.SystemUnit.Name.get();
    step('config', name);
    if (name !== 'jsxapi-room') fail('config not set: ' + name);

    await xapi.Command.Message.Send({ Text: 'hello from jsxapi' });
    await until(() => events.length > 0, 'event feedback for Message Send');
    step('event-feedback', events[0]);
    if (events[0].Text !== 'hello from jsxapi') fail('event text: ' + JSON.stringify(events[0]));

    let refused = null;
    try { await xapi.Command.Audio.Volume.Set({ Level: 101 }); } catch (e) { refused = e; }
    step('refused', refused && { code: refused.code, message: refused.message });
    if (!refused) fail('out-of-range Level was accepted');

    console.log('OK');
    xapi.close();
    process.exit(0);
  } catch (e) {
    fail(e && e.stack ? e.stack : JSON.stringify(e));
  }
});
