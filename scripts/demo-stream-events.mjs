#!/usr/bin/env node
// Writes a generated sample of platform events as Redis protocol (RESP) XADD commands to stdout, for
// `redis-cli --pipe` (an independent client). Entry format of --mq redis-stream: the field `value`
// holds the event JSON (adapters/mq-redis-stream/README.md).
//
//   node scripts/demo-stream-events.mjs <stream key> <events> <hour start, epoch ms> | redis-cli --pipe
import { Buffer } from 'node:buffer';

const [key = 'mq:events', countText = '5000', hourText] = process.argv.slice(2);
const count = Number(countText);
const hourStart = Number(hourText ?? Math.floor(Date.now() / 3_600_000 - 1) * 3_600_000);
const types = ['purchase', 'page_view', 'signup'];
const sources = ['web', 'ios', 'android'];

/** One RESP array of bulk strings. */
function resp(parts) {
  return `*${parts.length}\r\n${parts.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
}

let out = '';
for (let i = 0; i < count; i += 1) {
  let value;
  if (i % 250 === 7)
    value = '{"event_type": "purchase", "timestamp": '; // malformed_json
  else if (i % 250 === 11)
    value = JSON.stringify({ source: 'web', timestamp: new Date(hourStart).toISOString() }); // invalid_event
  else {
    // In time order through the hour, as a live stream would deliver them.
    const timestamp = new Date(hourStart + Math.floor((i * 3_600_000) / count)).toISOString();
    const eventType = types[i % types.length];
    const payload = eventType === 'purchase' ? { value: ((i * 37) % 9000) / 100 + 1, currency: 'EUR' } : {};
    value = JSON.stringify({
      event_id: `demo-${i}`,
      event_type: eventType,
      source: sources[i % 3],
      timestamp,
      payload,
    });
  }
  out += resp(['XADD', key, '*', 'value', value]);
  if (out.length > 65536) {
    process.stdout.write(out);
    out = '';
  }
}
process.stdout.write(out);
