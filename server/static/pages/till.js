// The till: sign in with the device's credential, hold up to the points a member's one-time
// code authorises for a sale, then capture what the sale spends (the rest goes back) or
// release it all.
import {
  busy,
  call,
  deviceSignIn,
  formatTime,
  newKey,
  payloadError,
  points,
  say,
} from "./common.js";

// How long a hold lasts when nobody settles it (then it is released by the service).
const HOLD_SECONDS = 600;
const HOLD_FIELDS =
  "hold { id points captured status reference expiresAt } errors { code message }";
const HOLD = `mutation Hold(
  $token: String!, $points: Int!, $reference: String!, $ttlSeconds: Int!, $key: String!
) {
  holdPoints(
    token: $token, points: $points, reference: $reference, ttlSeconds: $ttlSeconds,
    idempotencyKey: $key
  ) { ${HOLD_FIELDS} }
}`;
const CAPTURE = `mutation Capture($holdId: ID!, $points: Int!, $key: String!) {
  captureHold(holdId: $holdId, points: $points, idempotencyKey: $key) { ${HOLD_FIELDS} }
}`;
const RELEASE = `mutation Release($holdId: ID!, $key: String!) {
  releaseHold(holdId: $holdId, idempotencyKey: $key) { ${HOLD_FIELDS} }
}`;

const $ = (id) => document.getElementById(id);
let credential = null;
let hold = null;
// One key per sale and step: a retry after a lost answer replays instead of acting twice.
let keys = {};

/** The next sale: new keys and reference. A settled hold stays on screen until the next hold. */
function newSale() {
  keys = { hold: newKey("till-hold"), settle: newKey("till-settle") };
  $("sale-reference").value = newKey("sale");
  $("member-code").value = "";
}

function showHold(current) {
  hold = current;
  const status = {
    ACTIVE: `Holding ${points(current.points)} until ${formatTime(current.expiresAt)}.`,
    CAPTURED: `Captured ${points(current.captured)} of the ${points(current.points)} held.`,
    RELEASED: `Released: the ${points(current.points)} went back to the member.`,
    EXPIRED: `Expired: the ${points(current.points)} went back to the member.`,
  }[current.status];
  $("hold-summary").textContent = `Sale ${current.reference}. ${status}`;
  $("hold").hidden = false;
  $("capture-form").hidden = current.status !== "ACTIVE";
  $("capture-points").value = current.points;
  $("capture-points").max = current.points;
}

async function settle(form, operation, variables, field, done) {
  say($("till-message"), "");
  try {
    await busy(form, async () => {
      const sent = { holdId: hold.id, key: keys.settle, ...variables };
      const answer = await call(operation, sent, credential);
      const payload = answer[field];
      const failure = payloadError(payload);
      if (failure) throw failure;
      showHold(payload.hold);
      say($("till-message"), done(payload.hold), "success");
      newSale();
    });
    $("hold-summary-title").focus();
  } catch (error) {
    say($("till-message"), error.message, "error");
  }
}

$("hold-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  say($("till-message"), "");
  const variables = {
    token: $("member-code").value.trim(),
    points: Number($("hold-points").value),
    reference: $("sale-reference").value.trim(),
    ttlSeconds: HOLD_SECONDS,
    key: keys.hold,
  };
  try {
    await busy(form, async () => {
      const payload = (await call(HOLD, variables, credential)).holdPoints;
      const failure = payloadError(payload);
      if (failure) throw failure;
      showHold(payload.hold);
      $("hold-summary-title").focus();
    });
  } catch (error) {
    say($("till-message"), error.message, "error");
  }
});

$("capture-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const spent = { points: Number($("capture-points").value) };
  settle(event.currentTarget, CAPTURE, spent, "captureHold", (settled) => {
    return `Paid with ${points(settled.captured)}.`;
  });
});

$("release").addEventListener("click", () => {
  settle($("capture-form"), RELEASE, {}, "releaseHold", () => "Released: nothing was spent.");
});

deviceSignIn({
  storageKey: "loyalty.till.credential",
  form: $("sign-in-form"),
  input: $("credential"),
  error: $("sign-in-error"),
  signOut: $("sign-out"),
  onSignedIn: (accepted) => {
    credential = accepted;
    newSale();
    $("sign-in").hidden = true;
    $("till").hidden = false;
    $("sign-out").hidden = false;
    $("member-code").focus();
  },
  onSignedOut: () => {
    credential = null;
    $("sign-in").hidden = false;
    $("till").hidden = true;
    $("sign-out").hidden = true;
  },
});
