// The member's web page: sign in (logIn), see points, tier, rank, challenges and badges, show a
// one-time code for a kiosk or till, answer a kiosk's request live, donate to a cause.
import {
  ApiError,
  busy,
  call,
  closeConnection,
  fillSelect,
  follow,
  formatTime,
  liveConnection,
  newKey,
  payloadError,
  points,
  request,
  say,
} from "./common.js";

const TOKEN_KEY = "loyalty.member.token";

const LOG_IN = `mutation LogIn($email: String!, $password: String!) {
  logIn(email: $email, password: $password) { token errors { code message } }
}`;
const OVERVIEW = `query MemberPage {
  me {
    displayName cardNumber
    points { balance available held }
    tier { current { name } next { name threshold } progress { qualifyingPoints pointsToNext } }
    rank { rank total }
    challenges(first: 10) {
      edges { node { id title progress { current target percent completions } } }
    }
    badges { level badge { name description } }
  }
  rewards(first: 50, channel: KIOSK) { edges { node { id name costPoints } } }
  causes(first: 20, status: ACTIVE) {
    edges { node { id name acceptsDonations minDonation impactUnit } }
  }
}`;
const CREATE_CODE = `mutation Code($rewardId: ID, $points: Int, $causeId: ID) {
  createRedemptionToken(rewardId: $rewardId, points: $points, causeId: $causeId) {
    token expiresAt qrCode errors { code message }
  }
}`;
const RESPOND = `mutation Respond($requestId: ID!, $answer: RedemptionAnswer!) {
  respondToRedemptionRequest(requestId: $requestId, answer: $answer) {
    request { id status } errors { code message }
  }
}`;
const DONATE = `mutation Donate($causeId: ID!, $points: Int!, $key: String!) {
  donatePoints(causeId: $causeId, points: $points, idempotencyKey: $key, channel: WEB) {
    donation { points matchedPoints impactUnits cause { name impactUnit } }
    balance
    errors { code message }
  }
}`;
const POINTS_CHANGED = `subscription { pointsChanged { balance available held } }`;
const REQUESTS = `subscription {
  redemptionRequests {
    id status rewardName causeName points expiresAt error { message }
  }
}`;

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let connection = null;
let refreshTimer = null;
// The donation being made: a retry after a network failure sends the same key.
let donationKey = null;

function showSignedIn(signedIn) {
  $("sign-in").hidden = signedIn;
  $("account").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  closeConnection(connection);
  connection = null;
  $("requests").replaceChildren();
  $("code").hidden = true;
  showSignedIn(false);
}

function showPoints({ balance, available, held }) {
  $("balance").textContent = balance.toLocaleString();
  $("available").textContent = available.toLocaleString();
  $("held").textContent = held.toLocaleString();
}

function listItems(list, items) {
  list.replaceChildren(
    ...items.map((build) => {
      const item = document.createElement("li");
      build(item);
      return item;
    }),
  );
}

function showOverview(data) {
  const me = data.me;
  $("display-name").textContent = me.displayName;
  $("card-number").textContent = me.cardNumber;
  showPoints(me.points);

  const { current, next, progress } = me.tier;
  $("tier-current").textContent = current ? `You are ${current.name}.` : "You have no tier yet.";
  if (next) {
    $("tier-next").textContent =
      `${points(progress.pointsToNext)} to ${next.name} ` +
      `(${progress.qualifyingPoints.toLocaleString()} of ${next.threshold.toLocaleString()})`;
    $("tier-progress").max = next.threshold;
    $("tier-progress").value = progress.qualifyingPoints;
    $("tier-progress").hidden = false;
  } else {
    $("tier-next").textContent = current ? "You are on the top tier." : "";
    $("tier-progress").hidden = true;
  }

  // Null (with an error) while the boards cannot be reached: the rest of the page still shows.
  $("rank").textContent = me.rank?.rank
    ? `Number ${me.rank.rank} of ${me.rank.total} on the points board.`
    : "Not ranked yet.";

  const challenges = me.challenges.edges.map(({ node }) => node);
  listItems(
    $("challenges"),
    challenges.length
      ? challenges.map((challenge) => (item) => {
          const label = document.createElement("label");
          const bar = document.createElement("progress");
          bar.id = `challenge-${challenge.id}`;
          label.htmlFor = bar.id;
          const progress = challenge.progress;
          label.textContent = progress
            ? `${challenge.title}: ${Number(progress.current)} of ${Number(progress.target)}`
            : challenge.title;
          bar.max = 100;
          bar.value = progress ? progress.percent : 0;
          item.append(label, bar);
        })
      : [(item) => (item.textContent = "No challenges right now.")],
  );
  listItems(
    $("badges"),
    me.badges.length
      ? me.badges.map(({ badge, level }) => (item) => {
          item.className = "badge";
          item.textContent = level > 1 ? `${badge.name} (level ${level})` : badge.name;
          item.title = badge.description;
        })
      : [(item) => (item.textContent = "No badges yet.")],
  );

  fillSelect(
    $("code-reward"),
    data.rewards.edges.map(({ node }) => ({
      value: node.id,
      label: `${node.name} (${points(node.costPoints)})`,
    })),
  );
  const causes = data.causes.edges
    .map(({ node }) => node)
    .filter((cause) => cause.acceptsDonations)
    .map((cause) => ({ value: cause.id, label: cause.name }));
  fillSelect($("code-cause"), causes);
  fillSelect($("donate-cause"), causes);
  $("donate-form").hidden = causes.length === 0;
  $("no-causes").hidden = causes.length > 0;
}

async function refresh() {
  const body = await request(OVERVIEW, {}, token);
  if (!body.data || !body.data.me) {
    const code = body.errors?.[0]?.extensions?.code;
    if (code === "UNAUTHENTICATED") signOut();
    throw new ApiError(body.errors?.[0]?.message ?? "The page could not be loaded.", code);
  }
  showOverview(body.data);
}

function refreshSoon() {
  // Tier, rank and challenges move with the points: one read after a burst of changes.
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), 300);
}

function showRequest(kioskRequest) {
  const id = `request-${kioskRequest.id}`;
  let item = document.getElementById(id);
  if (!item) {
    item = document.createElement("li");
    item.id = id;
    $("requests").append(item);
  }
  const what = kioskRequest.causeName
    ? `donate ${points(kioskRequest.points)} to ${kioskRequest.causeName}`
    : `redeem ${kioskRequest.rewardName ?? points(kioskRequest.points)}` +
      (kioskRequest.rewardName ? ` for ${points(kioskRequest.points)}` : "");
  const text = document.createElement("p");
  text.id = `${id}-text`;
  const status = {
    PENDING: `A kiosk asks you to ${what}. Answer before ${formatTime(kioskRequest.expiresAt)}.`,
    APPROVING: `Approved: the kiosk will ${what}…`,
    APPROVED: `Done: you approved the kiosk's request to ${what}.`,
    DECLINED: `You declined the kiosk's request to ${what}.`,
    EXPIRED: `The kiosk's request to ${what} expired.`,
    FAILED: `The kiosk could not ${what}: ${kioskRequest.error?.message ?? "refused"}`,
  }[kioskRequest.status];
  text.textContent = status;
  item.replaceChildren(text);
  item.dataset.status = kioskRequest.status;
  if (kioskRequest.status === "PENDING") {
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const [answer, label] of [
      ["APPROVE", "Approve"],
      ["DECLINE", "Decline"],
    ]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.className = answer === "DECLINE" ? "secondary" : "";
      button.setAttribute("aria-describedby", text.id);
      button.addEventListener("click", () => answerRequest(kioskRequest.id, answer, actions));
      actions.append(button);
    }
    item.append(actions);
  }
  $("no-requests").hidden = $("requests").children.length > 0;
}

async function answerRequest(requestId, answer, actions) {
  actions.querySelectorAll("button").forEach((button) => (button.disabled = true));
  try {
    const data = await call(RESPOND, { requestId, answer }, token);
    const failure = payloadError(data.respondToRedemptionRequest);
    if (failure) throw failure;
    say($("request-message"), "");
  } catch (error) {
    actions.querySelectorAll("button").forEach((button) => (button.disabled = false));
    say($("request-message"), error.message, "error");
  }
}

function connect() {
  closeConnection(connection);
  connection = liveConnection(token, {
    onConnected: () => say($("connection"), "Live updates are on."),
    onRefused: () => signOut(),
  });
  follow(connection, POINTS_CHANGED, {}, (data) => {
    showPoints(data.pointsChanged);
    refreshSoon();
  });
  follow(connection, REQUESTS, {}, (data) => showRequest(data.redemptionRequests));
}

async function start() {
  showSignedIn(true);
  await refresh();
  connect();
  $("points-title").focus();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  say($("sign-in-error"), "");
  try {
    await busy(form, async () => {
      const data = await call(LOG_IN, { email: $("email").value, password: $("password").value });
      const failure = payloadError(data.logIn);
      if (failure) throw failure;
      token = data.logIn.token;
      sessionStorage.setItem(TOKEN_KEY, token);
    });
    $("password").value = "";
    await start();
  } catch (error) {
    say($("sign-in-error"), error.message, "error");
  }
});

$("sign-out").addEventListener("click", () => {
  signOut();
  $("email").focus();
});

function showPurpose() {
  const purpose = $("code-purpose").value;
  document.querySelectorAll("#code-form [data-purpose]").forEach((field) => {
    field.hidden = !field.dataset.purpose.split(" ").includes(purpose);
  });
}
$("code-purpose").addEventListener("change", showPurpose);

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const purpose = $("code-purpose").value;
  const variables = {
    reward: { rewardId: $("code-reward").value },
    points: { points: Number($("code-points").value) },
    donation: { causeId: $("code-cause").value, points: Number($("code-points").value) },
  }[purpose];
  say($("code-error"), "");
  try {
    await busy(form, async () => {
      const data = await call(CREATE_CODE, variables, token);
      const failure = payloadError(data.createRedemptionToken);
      if (failure) throw failure;
      const code = data.createRedemptionToken;
      $("code-qr").src = code.qrCode;
      $("code-text").textContent = code.token;
      $("code-expiry").textContent = `Valid once, until ${formatTime(code.expiresAt)}.`;
      $("code").hidden = false;
    });
  } catch (error) {
    $("code").hidden = true;
    say($("code-error"), error.message, "error");
  }
});

$("donate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const variables = { causeId: $("donate-cause").value, points: Number($("donate-points").value) };
  donationKey ??= newKey("web-donation");
  say($("donate-message"), "");
  try {
    await busy(form, async () => {
      const data = await call(DONATE, { ...variables, key: donationKey }, token);
      const failure = payloadError(data.donatePoints);
      donationKey = null; // answered: the next donation is a new one
      if (failure) throw failure;
      const { donation, balance } = data.donatePoints;
      const matched = donation.matchedPoints
        ? `, and the brand added ${donation.matchedPoints}`
        : "";
      say(
        $("donate-message"),
        `Thank you: you gave ${points(donation.points)} to ${donation.cause.name}${matched} ` +
          `(${Number(donation.impactUnits)} ${donation.cause.impactUnit}). ` +
          `Your balance is ${balance.toLocaleString()}.`,
        "success",
      );
    });
  } catch (error) {
    say($("donate-message"), error.message, "error");
  }
});

if (token) {
  start().catch((error) => {
    signOut();
    say($("sign-in-error"), error.message, "error");
  });
}
