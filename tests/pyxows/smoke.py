"""Cisco's pyxows (PyPI `xows`), library and `clixows`, against xmacro's
simulator. Run by tests/it/pyxows.rs as `python smoke.py ws://HOST:PORT/ws`
from the venv .ci/run makes; prints one line per step and exits 0 only when
every step saw what a codec would give."""

import asyncio
import json
import os
import subprocess
import sys

import xows

URL = sys.argv[1]
CLIXOWS = os.path.join(os.path.dirname(sys.executable), 'clixows')


def step(name, value):
    print(json.dumps({'step': name, 'value': value}), flush=True)


def fail(why):
    print('FAIL: ' + why, file=sys.stderr, flush=True)
    sys.exit(1)


async def until(pred, what):
    for _ in range(500):
        if pred():
            return
        await asyncio.sleep(0.01)
    fail('no ' + what)


async def library():
    async with xows.XoWSClient(URL, username='admin', password='') as client:
        volume = await client.xGet(['Status', 'Audio', 'Volume'])
        step('get', volume)
        if volume != 50:
            fail(f'volume {volume!r}')

        found = await client.xQuery(['Status', '**', 'Volume'])
        step('query', found)
        if 'VolumeMute' not in found['Status']['Audio']:
            fail('** Volume did not match VolumeMute as a prefix')

        seen = []
        await client.subscribe(['Status', 'Audio', 'Volume'],
                               lambda data, id_: seen.append(data), False)
        events = []
        await client.subscribe(['Event', 'CallSuccessful'],
                               lambda data, id_: events.append(data), False)

        res = await client.xCommand(['Audio', 'Volume', 'Set'], Level=33)
        step('command', res)
        await until(lambda: seen, 'volume feedback')
        step('feedback', seen[0])
        if seen[0] != {'Status': {'Audio': {'Volume': 33}}}:
            fail(f'feedback {seen[0]!r}')

        ok = await client.xSet(['Configuration', 'SystemUnit', 'Name'], 'pyxows-room')
        name = await client.xGet(['Configuration', 'SystemUnit', 'Name'])
        step('set', [ok, name])
        if ok is not True or name != 'pyxows-room':
            fail('set')

        dial = await client.xCommand(['Dial'], Number='alice@example.com')
        step('dial', dial)
        await until(lambda: events, 'CallSuccessful')
        step('event', events[0])
        if events[0]['Event']['CallSuccessful']['CallId'] != dial['CallId']:
            fail('CallSuccessful for another call')

        try:
            await client.xCommand(['Dial'], Number='')
            fail('an empty Number was accepted')
        except xows.CommandError as err:
            step('refused', [str(a) for a in err.args])
            if err.args[1].get('Cause') != 27:
                fail(f'no Cause 27: {err.args!r}')

        try:
            await client.xCommand(['Audio', 'Volume', 'Set'], Level=101)
            fail('Level 101 was accepted')
        except xows.InvalidParameter as err:
            step('bad-usage', str(err.args[0]))

        doc = await client.api_call('xDoc', Path=['Status', 'Audio', 'Volume'], Type='Schema')
        step('doc', doc)
        if doc['ValueSpace']['type'] != 'Integer':
            fail('xDoc')


def clixows(*args):
    out = subprocess.run([CLIXOWS, URL, *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        fail(f'clixows {args}: {out.returncode}\n{out.stdout}\n{out.stderr}')
    return out.stdout.strip()


def cli():
    got = clixows('get', 'Status', 'Audio', 'Volume')
    step('clixows-get', got)
    if got != '33':
        fail('clixows get: ' + got)
    got = clixows('query', 'Status//Volume')
    step('clixows-query', got)
    if 'VolumeMute' not in got:
        fail('clixows query')
    got = clixows('set', 'Configuration', 'Audio', 'DefaultVolume', '40')
    step('clixows-set', got)
    if got != 'True':
        fail('clixows set: ' + got)
    got = clixows('command', 'Message', 'Send', 'Text=hello from clixows')
    step('clixows-command', got)
    if "'status': 'OK'" not in got:
        fail('clixows command: ' + got)


asyncio.run(library())
cli()
print('OK', flush=True)
