// Server-to-client WebSocket frames (RFC 6455 §5.2): unmasked, final, text. A line is encoded
// once and its bytes shared by every recipient of a fan-out, so its frame is built once too.

const frames = new WeakMap<Uint8Array, Uint8Array>();

/** The text frame carrying `line` (one JSON object and its LF) without the LF; cached by line. */
export function textFrame(line: Uint8Array): Uint8Array {
  let frame = frames.get(line);
  if (frame === undefined) {
    frame = encodeTextFrame(line.subarray(0, line[line.length - 1] === 0x0a ? -1 : undefined));
    frames.set(line, frame);
  }
  return frame;
}

/** A final, unmasked text frame whose payload is `payload` (UTF-8). */
export function encodeTextFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = new Uint8Array(head + n);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (n < 126) frame[1] = n;
  else if (n < 0x10000) {
    frame[1] = 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(payload, head);
  return frame;
}
