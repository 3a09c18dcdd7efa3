import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Signal } from '../cri/gen/api';
import { criSignalName, imageSignalEnum } from './container-ops';

const criCases: { name: string; signal: Signal; want: string | number | undefined }[] = [
  { name: 'runtime default means none', signal: Signal.SIGNAL_RUNTIME_DEFAULT, want: undefined },
  { name: 'SIGKILL by name (the enum is alphabetical, not by number)', signal: Signal.SIGNAL_SIGKILL, want: 'SIGKILL' },
  { name: 'SIGTERM', signal: Signal.SIGNAL_SIGTERM, want: 'SIGTERM' },
  { name: 'real-time signal as a number', signal: Signal.SIGNAL_SIGRTMINPLUS3, want: 37 },
  { name: 'SIGRTMAX-2', signal: Signal.SIGNAL_SIGRTMAXMINUS2, want: 62 },
];
for (const c of criCases) test(`criSignalName: ${c.name}`, () => assert.equal(criSignalName(c.signal), c.want));

const imageCases: { name: string; stopSignal: string; want: Signal }[] = [
  { name: 'empty', stopSignal: '', want: Signal.SIGNAL_RUNTIME_DEFAULT },
  { name: 'full name', stopSignal: 'SIGQUIT', want: Signal.SIGNAL_SIGQUIT },
  { name: 'short lower-case name', stopSignal: 'usr2', want: Signal.SIGNAL_SIGUSR2 },
  { name: 'RTMIN+1', stopSignal: 'SIGRTMIN+1', want: Signal.SIGNAL_SIGRTMINPLUS1 },
  { name: 'a number is not mapped', stopSignal: '9', want: Signal.SIGNAL_RUNTIME_DEFAULT },
  { name: 'unknown', stopSignal: 'SIGNOPE', want: Signal.SIGNAL_RUNTIME_DEFAULT },
];
for (const c of imageCases) test(`imageSignalEnum: ${c.name}`, () => assert.equal(imageSignalEnum(c.stopSignal), c.want));
