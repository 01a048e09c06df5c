// The support console: sign in with a key (kept for this browser session), find orders by order
// id, customer id or email, read an order whole and act on it. Everything shown comes from the
// API; text is set with textContent, never parsed as HTML. The actions offered are those the key's
// role may send (GET /v1/me); the API refuses the rest anyway.
"use strict";

const KEY_STORE = "oms-support-key";
const state = { key: "", me: null, order: null };

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function when(value) {
  return value ? new Date(value).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) : "—";
}

function say(text, error) {
  const message = document.getElementById("message");
  message.className = error ? "error" : "";
  message.textContent = text;
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${state.key}`, Accept: "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const fields = (answer.errors || []).map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`);
    const error = new Error([answer.detail || `${response.status} ${response.statusText}`, ...fields].join("; "));
    error.code = answer.code;
    error.status = response.status;
    throw error;
  }
  return answer;
}

const get = (path) => call("GET", path);
const may = (command) => Boolean(state.me && state.me.commands.includes(command));
const orderPath = (id) => `/v1/orders/${encodeURIComponent(id)}`;

// --- signing in --------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  try {
    state.me = await get("/v1/me");
  } catch (error) {
    state.key = "";
    sessionStorage.removeItem(KEY_STORE);
    say(error.message, true);
    return false;
  }
  sessionStorage.setItem(KEY_STORE, key);
  document.getElementById("actor").textContent = `${state.me.actor} (${state.me.role})`;
  document.getElementById("sign-in").hidden = true;
  document.getElementById("signed-in").hidden = false;
  document.getElementById("search").hidden = false;
  return true;
}

function signOut() {
  sessionStorage.removeItem(KEY_STORE);
  location.assign("/support");
}

// --- finding orders --------------------------------------------------------------

async function search(query) {
  document.getElementById("order").hidden = true;
  document.getElementById("results").hidden = true;
  say(`Searching for ${query}…`);
  try {
    if (query.includes("@")) {
      await listOrders(`email=${encodeURIComponent(query)}`, `Orders to ${query}`);
      return;
    }
    try {
      await openOrder(query);
      return;
    } catch (error) {
      if (error.code !== "order_not_found") throw error;
    }
    await listOrders(`customer_id=${encodeURIComponent(query)}`, `Orders of customer ${query}`);
  } catch (error) {
    say(error.message, true);
  }
}

async function listOrders(filter, title) {
  const page = await get(`/v1/orders?${filter}&limit=100`);
  history.replaceState(null, "", `?${filter}`);
  if (!page.items.length) {
    say("No orders found.");
    return;
  }
  document.getElementById("results-title").textContent = title;
  const body = document.querySelector("#orders tbody");
  body.replaceChildren();
  for (const order of page.items) {
    const tr = el("tr");
    const open = el("button", order.order_id, "link");
    open.type = "button";
    open.addEventListener("click", () => openOrder(order.order_id).catch((error) => say(error.message, true)));
    const first = el("td");
    first.append(open);
    tr.append(first, el("td", when(order.placed_at)), el("td", order.customer_id), el("td", order.status),
      el("td", order.payment_status), el("td", `${order.total} ${order.currency}`, "n"),
      el("td", order.on_hold ? "on hold" : ""));
    body.append(tr);
  }
  say(`${page.items.length} orders${page.next_cursor ? " (the newest 100)" : ""}`);
  document.getElementById("results").hidden = false;
}

// --- one order ----------------------------------------------------------------------

async function openOrder(orderId, minPosition) {
  const wait = minPosition ? `?min_position=${minPosition}` : "";
  // A role may read orders but not timelines (analysts): the order is shown, the timeline says why not.
  const [order, timeline] = await Promise.all([
    get(orderPath(orderId) + wait),
    get(`${orderPath(orderId)}/timeline${wait}`).catch((error) => {
      if (error.status === 403) return { events: [], refused: error.message };
      throw error;
    }),
  ]);
  state.order = order;
  document.getElementById("results").hidden = true;
  document.getElementById("order-title").textContent = order.order_id;
  document.getElementById("hold-badge").hidden = !order.on_hold;
  showSummary(order);
  showShipTo(order);
  showActions(order);
  fillTable("lines", order.line_items.map((l) => [
    [l.sku], [l.unit_price, true], [l.quantity, true], [l.committed, true], [l.backordered, true],
    [l.shipped, true], [l.delivered, true], [l.cancelled, true], [l.return_requested, true], [l.returned, true],
  ]));
  fillTable("holds", order.holds.map((h) => [
    [h.hold_id], [h.kind], [h.rule_id ? `${h.reason} (rule ${h.rule_id})` : h.reason], [`${when(h.placed_at)} by ${h.placed_by}`],
    [h.open ? "open" : `${when(h.released_at)} by ${h.released_by}: ${h.release_reason}`],
    [h.open && may("release_hold") ? actionButton("Release", "release_hold", { hold: h }) : ""],
  ]));
  fillTable("shipments", order.shipments.map((s) => [
    [s.shipment_id], [s.location_id], [s.carrier || "—"], [tracking(s)],
    [s.lines.map((l) => `${l.quantity} x ${l.sku}`).join(", ")], [when(s.shipped_at)], [when(s.delivered_at)],
  ]));
  fillTable("returns", order.return_items.map((r) => [
    [r.return_id], [r.status], [r.lines.map((l) => `${l.received}/${l.requested} x ${l.sku} (${l.reason})`).join(", ")],
    [r.replacements.map((l) => `${l.quantity} x ${l.sku}`).join(", ") || "—"], [r.credit, true], [r.refunded, true],
    [reviewButtons(r)],
  ]));
  fillTable("payments", order.payments.map((p) => [
    [p.kind], [p.amount, true], [p.provider || "—"], [p.reference || "—"], [when(p.occurred_at)], [p.actor],
  ]));
  fillTable("notes", order.notes.map((n) => [[n.number, true], [n.text], [n.actor], [when(n.added_at)]]));
  fillTable("timeline", timeline.events.map((e) => [
    [e.position, true], [when(e.occurred_at)], [when(e.recorded_at)], [e.summary], [e.actor], [e.correlation_id],
  ]));
  document.getElementById("timeline-refused").textContent = timeline.refused || "";
  say(timeline.refused ? "The timeline is not shown to this role." : `${timeline.events.length} events`);
  document.getElementById("order").hidden = false;
  history.replaceState(null, "", `?order=${encodeURIComponent(order.order_id)}`);
}

function tracking(shipment) {
  if (!shipment.tracking_number) return "—";
  if (!shipment.tracking_url) return shipment.tracking_number;
  const link = el("a", shipment.tracking_number);
  link.href = shipment.tracking_url;
  link.rel = "noreferrer noopener";
  link.target = "_blank";
  return link;
}

function showSummary(order) {
  const summary = document.getElementById("summary");
  summary.replaceChildren();
  const customer = el("button", order.customer_id, "link");
  customer.type = "button";
  customer.addEventListener("click", () =>
    listOrders(`customer_id=${encodeURIComponent(order.customer_id)}`, `Orders of customer ${order.customer_id}`)
      .then(() => { document.getElementById("order").hidden = true; })
      .catch((error) => say(error.message, true)));
  const rows = [
    ["Status", el("span", order.status, "status")],
    ["Payment", order.payment_status],
    ["Returns", order.return_status],
    ["Customer", customer],
    ["Channel", order.channel],
    ["Total", `${order.total} ${order.currency}`],
    ["Balance due", `${order.balance_due} ${order.currency}`],
    ["Placed", when(order.placed_at)],
    ["Ship by", when(order.promised_ship_by)],
    ["Deliver by", when(order.promised_delivery_by)],
  ];
  for (const [label, value] of rows) {
    summary.append(el("dt", label));
    const dd = el("dd");
    dd.dataset.field = label.toLowerCase().replace(" ", "-");
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    summary.append(dd);
  }
}

function showShipTo(order) {
  const target = document.getElementById("ship-to");
  const notes = {
    none: "No ship-to details were given.",
    erased: "Erased at the customer's request.",
    withheld: "Withheld: this key's role may not see personal data.",
  };
  if (order.personal_data === "present" && order.ship_to) {
    const s = order.ship_to;
    const parts = [s.name, s.line1, s.line2, s.city, s.region, s.postal_code, s.country, s.email, s.phone];
    target.className = "";
    target.textContent = parts.filter(Boolean).join(", ");
  } else {
    target.className = "muted";
    target.textContent = notes[order.personal_data] || order.personal_data;
  }
}

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const cells of rows) {
    const tr = el("tr");
    for (const [value, numeric] of cells) {
      const td = el("td", value instanceof Node ? undefined : value, numeric ? "n" : "");
      if (value instanceof Node) td.append(value);
      tr.append(td);
    }
    body.append(tr);
  }
}

// --- actions ----------------------------------------------------------------------

const HOLD_KINDS = ["payment", "fraud", "address", "inventory", "manual"];
const ADDRESS = ["name", "line1", "line2", "city", "region", "postal_code", "country", "email", "phone"];

// Each action: its label, the fields its dialog asks for, and the request it sends.
const ACTIONS = {
  add_order_note: {
    label: "Add note",
    fields: () => [field("text", "Note", { multiline: true })],
    send: (o, v) => ["POST", `${orderPath(o.order_id)}/notes`, { text: v.text }],
  },
  place_hold: {
    label: "Place hold",
    fields: () => [field("kind", "Kind", { options: HOLD_KINDS }), reason()],
    send: (o, v) => ["POST", `${orderPath(o.order_id)}/holds`, { kind: v.kind, reason: v.reason }],
  },
  release_hold: {
    label: "Release hold",
    fields: () => [reason()],
    send: (o, v, c) => ["POST", `${orderPath(o.order_id)}/holds/${encodeURIComponent(c.hold.hold_id)}/release`,
      { reason: v.reason }],
  },
  change_ship_to: {
    label: "Change address",
    fields: (o) => [...ADDRESS.map((name) => field(name, name.replace("_", " "), {
      value: (o.ship_to || {})[name] || "", optional: !["name", "line1", "city", "postal_code", "country"].includes(name),
    })), reason()],
    send: (o, v) => ["PUT", `${orderPath(o.order_id)}/ship-to`, {
      ship_to: Object.fromEntries(ADDRESS.filter((n) => v[n]).map((n) => [n, v[n]])), reason: v.reason,
    }],
  },
  cancel_order: {
    label: "Cancel lines",
    fields: (o) => [...o.line_items.filter((l) => l.committed + l.backordered > 0).map((l) =>
      field(`line:${l.sku}`, `${l.sku} (${l.committed + l.backordered} open)`,
        { number: l.committed + l.backordered, value: "0" })), reason()],
    send: (o, v) => ["POST", `${orderPath(o.order_id)}/cancellation`, {
      reason: v.reason,
      lines: Object.entries(v).filter(([k, q]) => k.startsWith("line:") && Number(q) > 0)
        .map(([k, q]) => ({ sku: k.slice(5), quantity: Number(q) })),
    }],
  },
  approve_return: {
    label: "Approve",
    fields: () => [reason()],
    send: (o, v, c) => ["POST", `${orderPath(o.order_id)}/returns/${encodeURIComponent(c.ret.return_id)}/approval`,
      { reason: v.reason }],
  },
  decline_return: {
    label: "Decline",
    fields: () => [reason()],
    send: (o, v, c) => ["POST", `${orderPath(o.order_id)}/returns/${encodeURIComponent(c.ret.return_id)}/decline`,
      { reason: v.reason }],
  },
};
const ORDER_ACTIONS = ["add_order_note", "place_hold", "change_ship_to", "cancel_order"];

function reason() {
  return field("reason", "Reason", {});
}

function field(name, label, { options, multiline, number, value, optional }) {
  const wrap = el("label", label);
  let input;
  if (options) {
    input = el("select");
    for (const option of options) input.append(el("option", option));
  } else {
    input = el(multiline ? "textarea" : "input");
    if (number !== undefined) {
      input.type = "number";
      input.min = "0";
      input.max = String(number);
    }
  }
  input.name = name;
  if (value !== undefined) input.value = value;
  input.required = !optional;
  wrap.append(input);
  return wrap;
}

function actionButton(label, command, context) {
  const button = el("button", label);
  button.type = "button";
  button.dataset.command = command;
  button.addEventListener("click", () => openAction(command, context || {}));
  return button;
}

function reviewButtons(ret) {
  const span = el("span");
  if (ret.status !== "requested") return span;
  for (const command of ["approve_return", "decline_return"]) {
    if (may(command)) span.append(actionButton(ACTIONS[command].label, command, { ret }));
  }
  return span;
}

function showActions(order) {
  const bar = document.getElementById("actions");
  bar.replaceChildren();
  for (const command of ORDER_ACTIONS) {
    if (may(command)) bar.append(actionButton(ACTIONS[command].label, command));
  }
}

let pending = null;

function openAction(command, context) {
  const action = ACTIONS[command];
  pending = { command, context };
  document.getElementById("action-title").textContent = `${action.label} · order ${state.order.order_id}`;
  document.getElementById("action-fields").replaceChildren(...action.fields(state.order));
  document.getElementById("action-error").textContent = "";
  document.getElementById("action").showModal();
}

async function submitAction(event) {
  event.preventDefault();
  const { command, context } = pending;
  const values = Object.fromEntries(new FormData(document.getElementById("action-form")).entries());
  const [method, path, body] = ACTIONS[command].send(state.order, values, context);
  const submit = document.getElementById("action-submit");
  submit.disabled = true;
  let answer;
  try {
    answer = await call(method, path, body);
  } catch (error) {
    document.getElementById("action-error").textContent = error.message;
    return;
  } finally {
    submit.disabled = false;
  }
  document.getElementById("action").close();
  say(`${ACTIONS[command].label}: done (version ${answer.version}); reading it back…`);
  try {
    await readBack(state.order.order_id, answer.position);
    say(`${ACTIONS[command].label}: done (version ${answer.version})`);
  } catch (error) {
    say(error.message, true);
  }
}

// The order as of the command's position: the read models may take a moment to get there.
async function readBack(orderId, position) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await openOrder(orderId, position);
    } catch (error) {
      if (error.status !== 503 || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

// --- start ---------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = document.getElementById("api-key").value.trim();
    if (await signIn(key)) say("Signed in. Search by order id, customer id or email.");
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search(document.getElementById("query").value.trim());
  });
  document.getElementById("action-form").addEventListener("submit", submitAction);
  document.getElementById("action-cancel").addEventListener("click", () => document.getElementById("action").close());
  const stored = sessionStorage.getItem(KEY_STORE);
  if (!stored || !(await signIn(stored))) return;
  const params = new URLSearchParams(location.search);
  const wanted = params.get("order");
  if (wanted) {
    document.getElementById("query").value = wanted;
    openOrder(wanted).catch((error) => say(error.message, true));
  } else if (params.get("customer_id")) {
    listOrders(`customer_id=${encodeURIComponent(params.get("customer_id"))}`, `Orders of customer ${params.get("customer_id")}`)
      .catch((error) => say(error.message, true));
  }
});
