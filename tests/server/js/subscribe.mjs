// The npm `graphql-ws` client, as a browser or Node app would use it: subscribe, print what
// arrives, stop. Driven by tests/server/test_graphql_ws_node.py.
//
//   node subscribe.mjs <ws url> <token> <query> <messages>
//
// Prints one JSON object a line: {"event":"connected"} once the server acknowledged the
// connection, {"event":"next","payload":{…}} per result, then {"event":"done"} after
// <messages> results, or {"event":"closed","code":…,"reason":…} / {"event":"error",…}
// when the server ends it first. Exits 0 after "done", 1 otherwise.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, query, wanted] = process.argv.slice(2);
if (!url || !query || !wanted) {
  console.error("usage: node subscribe.mjs <ws url> <token> <query> <messages>");
  process.exit(2);
}

const print = (event) => process.stdout.write(JSON.stringify(event) + "\n");

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: {
    connected: () => print({ event: "connected" }),
    closed: (event) => {
      // A close the client did not ask for: the server refused or dropped us.
      if (event && typeof event.code === "number" && event.code !== 1000) {
        print({ event: "closed", code: event.code, reason: String(event.reason ?? "") });
      }
    },
  },
});

let received = 0;
let exitCode = 1;
const stream = client.iterate({ query });
try {
  for await (const result of stream) {
    print({ event: "next", payload: result });
    received += 1;
    if (received >= Number(wanted)) {
      print({ event: "done" });
      exitCode = 0;
      break;
    }
  }
} catch (error) {
  // A CloseEvent when the socket was closed, or a list of GraphQL errors.
  const detail =
    error && typeof error.code === "number"
      ? { code: error.code, reason: String(error.reason ?? "") }
      : { errors: error };
  print({ event: "error", ...detail });
}
await client.dispose();
process.exit(exitCode);
