// The store kiosk: sign in with the device's credential; take a member's one-time code
// (scanned with the camera where the browser has BarcodeDetector, or typed) to redeem or
// donate; ask a member by card number to approve in their app and watch the answer live;
// record an eco action.
import {
  busy,
  call,
  deviceSignIn,
  fillSelect,
  follow,
  formatTime,
  newKey,
  payloadError,
  points,
  say,
} from "./common.js";

const CATALOG = `query KioskCatalog {
  rewards(first: 50) { edges { node { id name costPoints } } }
  causes(first: 20, status: ACTIVE) { edges { node { id name acceptsDonations } } }
  ecoActionKinds(active: true) { code name unit pointsPerUnit maxQuantity }
}`;
const REDEMPTION = "redemption { voucherCode validUntil points reward { name } }";
const DONATION = "donation { points matchedPoints impactUnits cause { name impactUnit } }";
const REDEEM = `mutation Redeem($token: String!, $key: String!) {
  redeemWithToken(token: $token, idempotencyKey: $key) { ${REDEMPTION} errors { code message } }
}`;
const DONATE = `mutation Donate($token: String!, $key: String!) {
  donateWithToken(token: $token, idempotencyKey: $key) { ${DONATION} errors { code message } }
}`;
const ASK_REDEMPTION = `mutation Ask($reference: String!, $cardNumber: String!, $rewardId: ID!) {
  requestRedemption(reference: $reference, cardNumber: $cardNumber, rewardId: $rewardId) {
    request { id status } errors { code message }
  }
}`;
const ASK_DONATION = `mutation Ask(
  $reference: String!, $cardNumber: String!, $causeId: ID!, $points: Int!
) {
  requestDonation(
    reference: $reference, cardNumber: $cardNumber, causeId: $causeId, points: $points
  ) {
    request { id status } errors { code message }
  }
}`;
const REQUEST_STATUS = `subscription Status($requestId: ID!) {
  redemptionRequestStatus(requestId: $requestId) {
    id status error { message } ${REDEMPTION} ${DONATION}
  }
}`;
const RECORD_ECO = `mutation Eco($input: RecordEcoActionInput!) {
  recordEcoAction(input: $input) { ecoAction { kind quantity points } errors { code message } }
}`;
const STATUS_TEXT = {
  PENDING: "Waiting for the member to answer in their app…",
  APPROVING: "The member approved. Finishing…",
  DECLINED: "The member declined.",
  EXPIRED: "The member did not answer in time.",
};

const $ = (id) => document.getElementById(id);
let credential = null;
let connection = null;
let stopWatching = () => {};
// One key per code: a retry of the same code (a lost answer) replays, never redeems twice.
const keysByCode = new Map();

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("kiosk").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

function showResult(title, detail, voucher = null) {
  $("result-title").textContent = title;
  $("result-detail").textContent = detail;
  $("voucher").textContent = voucher ? `Voucher ${voucher}` : "";
  $("voucher").hidden = !voucher;
  $("result").hidden = false;
  $("result-title").focus();
}

function showRedemption(redemption) {
  const what = redemption.reward ? redemption.reward.name : points(redemption.points);
  showResult(
    `Redeemed: ${what}`,
    `${points(redemption.points)} spent. ` +
      `The voucher is valid until ${formatTime(redemption.validUntil)}.`,
    redemption.voucherCode,
  );
}

function showDonation(donation) {
  const matched = donation.matchedPoints ? `, and the brand added ${donation.matchedPoints}` : "";
  showResult(
    `Thank you for donating to ${donation.cause.name}`,
    `${points(donation.points)} given${matched}: ${Number(donation.impactUnits)} ` +
      `${donation.cause.impactUnit}.`,
  );
}

async function loadCatalog() {
  const data = await call(CATALOG, {}, credential);
  const causes = data.causes.edges.map(({ node }) => node).filter((c) => c.acceptsDonations);
  fillSelect($("ask-what"), [
    ...data.rewards.edges.map(({ node }) => ({
      value: `reward:${node.id}`,
      label: `Redeem ${node.name} (${points(node.costPoints)})`,
    })),
    ...causes.map((cause) => ({ value: `cause:${cause.id}`, label: `Donate to ${cause.name}` })),
  ]);
  showAskFields();
  fillSelect(
    $("eco-kind"),
    data.ecoActionKinds.map((kind) => ({
      value: kind.code,
      label: `${kind.name} (${points(kind.pointsPerUnit)} per ${kind.unit})`,
    })),
  );
}

function showAskFields() {
  $("ask-donation").hidden = !$("ask-what").value.startsWith("cause:");
}
$("ask-what").addEventListener("change", showAskFields);

async function useCode(code) {
  if (!keysByCode.has(code)) keysByCode.set(code, newKey("kiosk-code"));
  const key = keysByCode.get(code);
  const redeemed = (await call(REDEEM, { token: code, key }, credential)).redeemWithToken;
  if (!redeemed.errors.length) return showRedemption(redeemed.redemption);
  // A donation code is refused for a redemption (and stays usable): it is donated instead.
  if (redeemed.errors[0].code !== "TOKEN_WRONG_PURPOSE") throw payloadError(redeemed);
  const donated = (await call(DONATE, { token: code, key }, credential)).donateWithToken;
  if (donated.errors.length) throw payloadError(donated);
  showDonation(donated.donation);
}

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const code = $("member-code").value.trim();
  say($("code-error"), "");
  try {
    await busy(form, () => useCode(code));
    $("member-code").value = "";
  } catch (error) {
    say($("code-error"), error.message, "error");
  }
});

function watchRequest(requestId) {
  stopWatching();
  stopWatching = follow(
    connection,
    REQUEST_STATUS,
    { requestId },
    ({ redemptionRequestStatus: status }) => {
      if (status.status === "APPROVED") {
        say($("ask-status"), "The member approved.", "success");
        if (status.donation) showDonation(status.donation);
        else showRedemption(status.redemption);
      } else if (status.status === "FAILED") {
        const why = status.error?.message ?? "refused";
        say($("ask-status"), `It could not be done: ${why}`, "error");
      } else {
        const kind = status.status === "PENDING" ? "info" : "warning";
        say($("ask-status"), STATUS_TEXT[status.status], kind);
      }
    },
    (error) => say($("ask-status"), error.message, "error"),
  );
}

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const [kind, id] = $("ask-what").value.split(/:(.*)/s);
  const common = { reference: newKey("kiosk-ask"), cardNumber: $("ask-card").value.trim() };
  try {
    await busy(form, async () => {
      const payload =
        kind === "cause"
          ? (
              await call(
                ASK_DONATION,
                { ...common, causeId: id, points: Number($("ask-points").value) },
                credential,
              )
            ).requestDonation
          : (await call(ASK_REDEMPTION, { ...common, rewardId: id }, credential)).requestRedemption;
      const failure = payloadError(payload);
      if (failure) throw failure;
      say($("ask-status"), STATUS_TEXT.PENDING);
      watchRequest(payload.request.id);
    });
  } catch (error) {
    say($("ask-status"), error.message, "error");
  }
});

$("eco-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const input = {
    kind: $("eco-kind").value,
    quantity: Number($("eco-quantity").value),
    cardNumber: $("eco-card").value.trim(),
    externalId: newKey("kiosk-eco"),
  };
  try {
    await busy(form, async () => {
      const payload = (await call(RECORD_ECO, { input }, credential)).recordEcoAction;
      const failure = payloadError(payload);
      if (failure) throw failure;
      const action = payload.ecoAction;
      const recorded = `Recorded: ${action.quantity} × ${action.kind}, +${points(action.points)}.`;
      say($("eco-message"), recorded, "success");
    });
  } catch (error) {
    say($("eco-message"), error.message, "error");
  }
});

$("result-done").addEventListener("click", () => {
  $("result").hidden = true;
  $("member-code").focus();
});

// Scanning: only where the browser can read QR codes itself (BarcodeDetector); the typed
// code works everywhere.
async function scan() {
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  const video = $("camera");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    say($("code-error"), "The camera is not available: type the code instead.", "error");
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  try {
    for (let tries = 0; tries < 200; tries++) {
      const found = await detector.detect(video);
      if (found.length) {
        $("member-code").value = found[0].rawValue;
        $("code-form").requestSubmit();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    say($("code-error"), "No code seen: try again, or type it.", "error");
  } finally {
    stream.getTracks().forEach((track) => track.stop());
    video.hidden = true;
  }
}

if ("BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia) {
  $("scan").hidden = false;
  $("scan").addEventListener("click", () => scan());
}

deviceSignIn({
  storageKey: "loyalty.kiosk.credential",
  form: $("sign-in-form"),
  input: $("credential"),
  error: $("sign-in-error"),
  signOut: $("sign-out"),
  onSignedIn: async (accepted, live) => {
    credential = accepted;
    connection = live;
    show(true);
    try {
      await loadCatalog();
    } catch (error) {
      say($("code-error"), error.message, "error");
    }
    $("member-code").focus();
  },
  onSignedOut: () => {
    stopWatching();
    credential = null;
    connection = null;
    show(false);
  },
});
