// Cisco's jsxapi 6 against xmacro's simulator. Run by tests/jsxapi.rs as
// `node smoke.js ws://127.0.0.1:PORT`; prints one JSON line per step and
// exits 0 only when every step saw what a real codec would give.
'use strict';
const jsxapi = require('jsxapi');

const url = process.argv[2];
const fail = (why) => { console.error('FAIL: ' + why); process.exit(1); };
setTimeout(() => fail("timed out"), 25000).unref();
const step = (name, value) => console.log(JSON.stringify({ step: name, value }));
const until = (pred, what) => new Promise((resolve) => {
  const t = setInterval(() => { if (pred()) { clearInterval(t); resolve(); } }, 10);
  setTimeout(() => { clearInterval(t); fail('no ' + what); }, 5000).unref();
});

// Waits until the simulator holds at least `n` feedback subscriptions.
const subscribed = async (n, what) => {
  for (;;) {
    const s = await xapi.execute('xSim/Inspect', {});
    if (s.Subscriptions >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
};

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
    // Both subscriptions are registered before the changes are caused.
    await subscribed(2, 'the Volume and Message Send subscriptions');

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

    // Listeners on arrays: every call element, and one element by id.
    const calls = [];
    xapi.Status.Call.on((c) => calls.push(c));
    const connected = [];
    xapi.Status.Video.Input.Connector[2].Connected.on((v) => connected.push(v));
    await subscribed(4, 'the Call and Connector[2] subscriptions');
    const dial = await xapi.Command.Dial({ Number: 'bob@example.com' });
    await until(() => calls.some((c) => c.id === dial.CallId && c.Status === 'Connected'),
      'Status Call feedback for a connected call');
    await xapi.Command.Call.Disconnect({ CallId: dial.CallId });
    await until(() => calls.some((c) => c.id === dial.CallId && c.ghost === 'True'),
      'the ghost of the ended call');
    step('array-listener', calls.map((c) => c.Status || ('ghost:' + c.ghost)));
    await xapi.execute('xSim/SetStatus', { Path: 'Status Video Input Connector 2 Connected', Value: 'True' });
    await until(() => connected.includes('True'), 'feedback on Connector[2]');
    step('element-listener', connected);

    // xapi.doc, and jsxapi's own schema generator reading what it returns.
    const docs = {};
    for (const root of ['Command', 'Configuration', 'Event', 'Status']) {
      docs[root === 'Status' ? 'StatusSchema' : root] = await xapi.doc(root);
    }
    const vol = await xapi.doc('Configuration Audio DefaultVolume');
    step('doc', vol);
    if (vol.ValueSpace.type !== 'Integer' || vol.ValueSpace.Max !== '100') fail('xDoc of DefaultVolume');
    const generate = require('jsxapi/lib/schema/generate').default;
    const ts = generate([docs]);
    step('doc-generate', ts.length);
    for (const want of ['Dial', 'DefaultVolume', 'CallDisconnect', 'Selfview']) {
      if (!ts.includes(want)) fail('generated typings lack ' + want);
    }

    console.log('OK');
    xapi.close();
    process.exit(0);
  } catch (e) {
    fail(e && e.stack ? e.stack : JSON.stringify(e));
  }
});
