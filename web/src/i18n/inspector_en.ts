// The inspector's texts in English, typed against the French source: a missing key fails
// `deno check`.
import type { CatalogOf } from "./catalog.ts";
import type { inspectorFr } from "./inspector_fr.ts";

/** The inspector's texts, in English. */
export const inspectorEn: CatalogOf<typeof inspectorFr> = {
  inspectorHeading: "Inspector",
  inspectorHeadingConn: "Inspector: connection #{n}",
  inspectorIntro:
    "What the server receives from your other connections (your Java or Python client) and what it answers them, line by line, with how it read each.",
  inspectorIntroConn:
    "What the server receives from this connection and what it answers, line by line.",
  backToConsole: "Back to the console",
  inspectorConnsHeading: "Your other connections",
  inspectorConnHeading: "The connection",
  noOtherConns: "No other connection with your account yet.",
  inspectorEmpty:
    "Connect your Java or Python client with your account ({name}): its lines will show here.",
  inspectorEmptyConn: "No line yet: they will show here as soon as this connection writes.",
  inspectorLinesHeading: "Lines exchanged",
  inspectorKept: "The last {n} lines are kept.",
  inspectorPause: "Pause",
  inspectorResume: "Resume",
  inspectorHeld: { one: "{n} line waiting", other: "{n} lines waiting" },
  inspectorClear: "Clear",
  inspectorPaused: "Paused: the display stays still, new lines wait.",
  inspectorRefused: "The server refuses the inspector: {reason}",
  inspectorGone: "This connection is closed: nothing more will come.",
  dirInMine: "Your client → server",
  dirOutMine: "Server → your client",
  dirIn: "Client → server",
  dirOut: "Server → client",
  partialLine: "waiting for the end of the line",
  unfinishedLine: "line never ended: connection closed",
  errorReply: "error sent back",
  readAs: "Read as a “{type}” request",
  readRefused: "Refused ({code}): {text}",
  limitHit: "Limit hit: {limit}",
  hintLabel: "Tip",
  jsonStop: "Reading stops here",
  jsonEnd: "(end of line)",
  connNumber: "Connection #{n}",
  connSince: "opened {when}",
  connState_anonymous: "not identified",
  connState_guest: "guest",
  connState_user: "logged in",
  connState_closed: "closed",
  healthLines: "Lines received",
  healthErrors: "Errors",
  healthBadJson: "Invalid JSON",
  healthUnknownTypes: "Unknown types",
  healthLimits: "Limits hit",
  healthLastError: "Last error",
  healthLastErrorAt: "{code} at {time}",
  healthNone: "none",
  hintNoNewline: {
    one:
      "The server waits for the end of the line (\\n): your client has not sent a line break yet ({n} byte received)",
    other:
      "The server waits for the end of the line (\\n): your client has not sent a line break yet ({n} bytes received)",
  },
  hintBadJson: "This is not JSON: each line must be one JSON object, { … }",
  hintBadJsonAt:
    "Invalid JSON: reading stops at character {n}, marked above. Check the quotes, commas and braces just before it",
  hintUnknownType: "Type “{type}” is unknown to the server",
  hintUnknownTypeSuggest: "Unknown type “{type}”: did you mean “{suggestion}”?",
  hintFieldMissing: "The field “{field}” is missing",
  hintFieldType: "The field “{field}” must be {expected}",
  hintFieldInvalid: "The value of the field “{field}” is not accepted",
  kind_string: "a string, in quotes",
  kind_number: "a number",
  kind_int: "a whole number",
  kind_boolean: "true or false",
  kind_object: "an object { … }",
  kind_array: "a list [ … ]",
  hintEncoding:
    "Line received in Windows-1252, not UTF-8: emoji and some characters are lost; write UTF-8, e.g. new OutputStreamWriter(socket.getOutputStream(), StandardCharsets.UTF_8)",
  hintCommandAsChat:
    '“/login” or “/register” sent as a chat message: a password must never go into the chat. Before the login the server refuses the line; after it, the server passes it on to the whole class like any message. To log in, send a line {"type":"login","username":"…","password":"…"}',
  connectionsHeading: "Connections and protocol",
  connectionsHint: "Every connection, identified or not, with what the server had to refuse.",
  inspect: "Inspect",
  inspectConn: "Inspect connection #{n}",
  noConnections: "No connection.",
  ownWebConn: "A web page of your account",
};
