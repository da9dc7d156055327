// What the reference pages share: calling the public GraphQL API over HTTP, following
// subscriptions over graphql-transport-ws with the bundled graphql-ws client (the global
// `graphqlWs`, vendor/graphql-ws.min.js), a device's sign-in, and telling people what happened.

const endpoint = document.querySelector('meta[name="graphql-endpoint"]').content;

/** A failure the page tells the person about; `code` is the API's stable code when it has one. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** The API's answer, `{ data, errors }`, to one operation. Throws ApiError when it cannot be
 * read. */
export async function request(query, variables = {}, token = null) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The service cannot be reached. Try again in a moment.", "NETWORK");
  }
  const body = await response.json().catch(() => null);
  if (!body) throw new ApiError(`The service answered ${response.status}.`, "HTTP");
  return body;
}

/** The data of one operation. Throws ApiError on a GraphQL error (UNAUTHENTICATED, ...). */
export async function call(query, variables = {}, token = null) {
  const body = await request(query, variables, token);
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(first.message, first.extensions?.code ?? "ERROR");
  }
  return body.data;
}

/** A mutation payload's expected failures (`errors { code message }`) as an ApiError, or null. */
export function payloadError(payload) {
  if (!payload || !payload.errors || payload.errors.length === 0) return null;
  return new ApiError(payload.errors.map((e) => e.message).join(" "), payload.errors[0].code);
}

/** A graphql-transport-ws connection with `token`, opened at once. `onConnected` runs on each
 * acknowledged connection (a reconnect too: subscriptions resend their current state);
 * `onRefused` when the server refuses the token (4403), which is never retried. */
export function liveConnection(token, { onConnected = () => {}, onRefused = () => {} } = {}) {
  const url = new URL(endpoint, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return graphqlWs.createClient({
    url: url.href,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 5,
    shouldRetry: (event) => !(event && event.code === 4403),
    // Refusals are told through `onRefused`; the client's default logs them to the console.
    onNonLazyError: () => {},
    on: {
      connected: () => onConnected(),
      closed: (event) => {
        if (event && event.code === 4403) onRefused();
      },
    },
  });
}

/** Close a live connection. One the server refused is closed already: disposing of it rejects
 * with the close event, which is no news. */
export function closeConnection(connection) {
  if (!connection) return;
  Promise.resolve(connection.dispose()).catch(() => {});
}

/** Follow a subscription: `onData(data)` per result, `onError(ApiError)` once if it fails.
 * Returns the function that stops it. */
export function follow(connection, query, variables, onData, onError = () => {}) {
  return connection.subscribe(
    { query, variables },
    {
      next: (result) => {
        if (result.errors && result.errors.length) {
          const first = result.errors[0];
          onError(new ApiError(first.message, first.extensions?.code ?? "ERROR"));
        } else {
          onData(result.data);
        }
      },
      error: () => onError(new ApiError("The live connection was lost.", "CLOSED")),
      complete: () => {},
    },
  );
}

/** A fresh idempotency key: a retry of one action sends the same key, a new action a new one. */
export function newKey(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Put a message in a status or alert element ("" clears it). */
export function say(element, message, kind = "info") {
  element.textContent = message;
  element.dataset.kind = kind;
  element.hidden = message === "";
}

export function formatTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function points(n) {
  return `${Number(n).toLocaleString()} ${Math.abs(n) === 1 ? "point" : "points"}`;
}

/** Fill a <select> with `items`; each gives `value` and `label`. Keeps the selection if it can. */
export function fillSelect(select, items) {
  const previous = select.value;
  select.replaceChildren(
    ...items.map(({ value, label }) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
  if (items.some((item) => item.value === previous)) select.value = previous;
}

/** Disable a form's controls while `work` runs, so that one tap sends one request. */
export async function busy(form, work) {
  const controls = Array.from(form.elements);
  controls.forEach((control) => (control.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    controls.forEach((control) => (control.disabled = false));
    form.removeAttribute("aria-busy");
  }
}

/** A store device's sign-in with its credential (the bearer token from `registerDevice`, or
 * `loyalty token --device <id>` in development). The credential is checked by opening the
 * live connection with it: the server refuses a forged or revoked one. It is kept in this
 * browser's local storage, as a kiosk or till is a dedicated device, until signed out.
 *
 * `onSignedIn(credential, connection)` runs once the server accepted it. */
export function deviceSignIn({ storageKey, form, input, error, signOut, onSignedIn, onSignedOut }) {
  let connection = null;

  function start(credential) {
    let accepted = false;
    closeConnection(connection);
    connection = liveConnection(credential, {
      onConnected: () => {
        if (accepted) return;
        accepted = true;
        localStorage.setItem(storageKey, credential);
        say(error, "");
        onSignedIn(credential, connection);
      },
      onRefused: () => {
        localStorage.removeItem(storageKey);
        closeConnection(connection);
        connection = null;
        const refused = "This credential was refused: it is not valid, or the device was revoked.";
        say(error, refused, "error");
        onSignedOut();
        input.focus();
      },
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const credential = input.value.trim();
    if (credential) start(credential);
  });
  signOut.addEventListener("click", () => {
    localStorage.removeItem(storageKey);
    closeConnection(connection);
    connection = null;
    input.value = "";
    onSignedOut();
    input.focus();
  });

  const kept = localStorage.getItem(storageKey);
  if (kept) start(kept);
}
