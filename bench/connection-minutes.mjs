// Connection minutes and connects of one page over simulated 8-hour working days: the browser
// client closing a hidden page's socket after closeHiddenAfterMs (several values) against a
// socket kept open all day. Deterministic (seeded), no network: `node bench/connection-minutes.mjs`
// (`--days N`, default 10000). The figures and assumptions are in docs/deploy.md, "Cost sketch".
//
// Assumptions (stated, not measured; change them below):
// - One tab of the app open for the whole working day, 480 min, alternating visible and
//   hidden spans, starting visible. Visible spans: exponential, mean VISIBLE_MEAN_MIN. Hidden
//   spans: a mixture: a glance at another tab or app (exponential, mean 1 min, 60 %), work in
//   another app (mean 12 min, 30 %), away from the app (a meeting, a call: mean 45 min, 10 %);
//   plus a lunch break of 60 min hidden at 4 h.
// - The socket reopens at once when the page is shown (or after an idle close): reconnect
//   delays (well under a second) are not counted.
// - API Gateway closes a socket after 10 idle minutes and at 2 hours of age. Two models of the
//   idle timer: "client frames" (only frames from the browser reset it, as hermes-local models
//   it; the client sends none after its `recover`, so a quiet socket reconnects every 10 min)
//   and "any traffic" (the socket lives until its 2-hour age or the page parks it: what the
//   cost sketch's "~4 connects a day" assumes). Connection minutes are the same in both.
// - Billed connection minutes: each connection's duration rounded up to a whole minute.
// - A connect costs, besides its minutes (us-east-1 list prices, room only, no streams): 3
//   Lambda requests (authorizer, connect, disconnect; the authorizer's bcrypt is cached per
//   warm instance, so ~ms of duration) $0.70 / M; DynamoDB: the authorizer's GetItem, connect's
//   PutItem, disconnect's DeleteItem $1.375 / M; the recovery (counter + Query) $0.25 / M;
//   API Gateway messages: the `recover` frame and its answer $2.00 / M. About $4.3 per million
//   connects, the price of 17 connection minutes. Each stream a page holds adds a
//   subscription write and delete and an answer frame per connect ($2.25 / M).
const DAY_MIN = 480;
const LUNCH_AT_MIN = 240;
const LUNCH_MIN = 60;
const VISIBLE_MEAN_MIN = 5;
const HIDDEN_MIX = [
  { p: 0.6, mean: 1 },
  { p: 0.3, mean: 12 },
  { p: 0.1, mean: 45 },
];
const IDLE_MIN = 10;
const MAX_AGE_MIN = 120;
const PER_MILLION_MINUTES = 0.25;
const PER_MILLION_CONNECTS = 0.7 + 1.375 + 0.25 + 2.0;
// The cost sketch's fleet: 10,000 users, 22 working days a month.
const USERS = 10000;
const DAYS_A_MONTH = 22;
const THRESHOLDS_MIN = [0, 0.5, 1, 2, 5, 10, 15, 30];

const days = Number(process.argv[process.argv.indexOf("--days") + 1]) || 10000;

// mulberry32: a small seeded generator, so every run prints the same figures.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const exponential = (random, mean) => -mean * Math.log(1 - random());

// [{visible, from, to}] covering [0, DAY_MIN).
function day(random) {
  const spans = [];
  let t = 0;
  let visible = true;
  while (t < DAY_MIN) {
    let len;
    if (visible) {
      len = exponential(random, VISIBLE_MEAN_MIN);
    } else {
      let u = random();
      const kind = HIDDEN_MIX.find((k) => (u -= k.p) < 0) || HIDDEN_MIX[HIDDEN_MIX.length - 1];
      len = exponential(random, kind.mean);
    }
    // Lunch: hidden from LUNCH_AT_MIN for LUNCH_MIN, whatever span it falls in.
    if (t < LUNCH_AT_MIN && t + len >= LUNCH_AT_MIN) {
      if (LUNCH_AT_MIN > t) spans.push({ visible, from: t, to: LUNCH_AT_MIN });
      spans.push({ visible: false, from: LUNCH_AT_MIN, to: LUNCH_AT_MIN + LUNCH_MIN });
      t = LUNCH_AT_MIN + LUNCH_MIN;
      visible = true;
      continue;
    }
    spans.push({ visible, from: t, to: Math.min(DAY_MIN, t + len) });
    t += len;
    visible = !visible;
  }
  // A hidden span running into lunch is one hidden span.
  return spans.reduce((out, s) => {
    const last = out[out.length - 1];
    if (last && last.visible === s.visible) last.to = s.to;
    else out.push({ ...s });
    return out;
  }, []);
}

// The connections of one day: [from, to) intervals, given when the page wants a socket (the
// union of `wanted` intervals) and how long one lives (idle timeout or age).
function connections(wanted, lifetime) {
  const out = [];
  for (const [from, to] of wanted) {
    for (let t = from; t < to; t += lifetime) out.push([t, Math.min(to, t + lifetime)]);
  }
  return out;
}

// When the page holds a socket: always, or all but the part of each hidden span past `after`.
function wantedIntervals(spans, after) {
  if (after === null) return [[0, DAY_MIN]];
  const out = [];
  for (const s of spans) {
    const end = s.visible ? s.to : Math.min(s.to, s.from + after);
    if (end <= s.from) continue;
    const last = out[out.length - 1];
    if (last && last[1] === s.from) last[1] = end;
    else out.push([s.from, end]);
  }
  return out;
}

const policies = [{ name: "always on", after: null }, ...THRESHOLDS_MIN.map((m) => ({ name: `close after ${m} min hidden`, after: m }))];
const totals = policies.map(() => ({ minutes: 0, billed: 0, connectsIdle: 0, connectsAge: 0 }));
let visibleMin = 0;
let switches = 0;
const random = rng(18);
for (let d = 0; d < days; d++) {
  const spans = day(random);
  visibleMin += spans.filter((s) => s.visible).reduce((n, s) => n + s.to - s.from, 0);
  switches += spans.filter((s) => !s.visible).length;
  policies.forEach((p, i) => {
    const wanted = wantedIntervals(spans, p.after);
    const idle = connections(wanted, IDLE_MIN);
    const aged = connections(wanted, MAX_AGE_MIN);
    totals[i].minutes += aged.reduce((n, [a, b]) => n + b - a, 0);
    totals[i].billed += aged.reduce((n, [a, b]) => n + Math.ceil(b - a - 1e-9), 0);
    totals[i].connectsIdle += idle.length;
    totals[i].connectsAge += aged.length;
  });
}

const perDay = (x) => x / days;
const month = (x) => perDay(x) * USERS * DAYS_A_MONTH;
const usd = (x) => `$${x.toFixed(2)}`;
console.log(`${days} simulated 8-hour days: visible ${(perDay(visibleMin) / DAY_MIN * 100).toFixed(1)} % of the day, ` +
  `${perDay(switches).toFixed(1)} times hidden a day`);
console.log(`${USERS} users x ${DAYS_A_MONTH} days a month; a connect costs $${PER_MILLION_CONNECTS.toFixed(2)} / M besides its minutes\n`);
console.log("| policy | connection min / day | billed min / day | vs always on | connects / day (idle: client frames) | (idle: any traffic) | $ / month minutes | + connects (client frames) | + connects (any traffic) |");
console.log("|---|---|---|---|---|---|---|---|---|");
const base = totals[0].billed;
policies.forEach((p, i) => {
  const t = totals[i];
  const minutesCost = month(t.billed) / 1e6 * PER_MILLION_MINUTES;
  const idleCost = month(t.connectsIdle) / 1e6 * PER_MILLION_CONNECTS;
  const ageCost = month(t.connectsAge) / 1e6 * PER_MILLION_CONNECTS;
  console.log(`| ${p.name} | ${perDay(t.minutes).toFixed(1)} | ${perDay(t.billed).toFixed(1)} | ${(t.billed / base * 100).toFixed(1)} % | ` +
    `${perDay(t.connectsIdle).toFixed(1)} | ${perDay(t.connectsAge).toFixed(1)} | ${usd(minutesCost)} | ` +
    `${usd(minutesCost + idleCost)} | ${usd(minutesCost + ageCost)} |`);
});
