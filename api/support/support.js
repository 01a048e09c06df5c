// The support page: look up one order and read its timeline. Everything shown comes
// from the API; text is set with textContent, never parsed as HTML.
"use strict";

const KEY_STORE = "oms-support-key";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function when(value) {
  return value ? new Date(value).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) : "—";
}

async function get(path, key) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}`, Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `${response.status} ${response.statusText}`);
    error.code = body.code;
    throw error;
  }
  return body;
}

function showSummary(order) {
  const summary = document.getElementById("summary");
  summary.replaceChildren();
  const rows = [
    ["Status", el("span", order.status, "status")],
    ["Payment", order.payment_status],
    ["Returns", order.return_status],
    ["Customer", order.customer_id],
    ["Channel", order.channel],
    ["Total", `${order.total} ${order.currency}`],
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
    for (const [value, numeric] of cells) tr.append(el("td", value, numeric ? "n" : ""));
    body.append(tr);
  }
}

async function lookUp(key, orderId) {
  const message = document.getElementById("message");
  const section = document.getElementById("order");
  message.className = "";
  message.textContent = `Looking up ${orderId}…`;
  section.hidden = true;
  try {
    const id = encodeURIComponent(orderId);
    const [order, timeline] = await Promise.all([get(`/v1/orders/${id}`, key), get(`/v1/orders/${id}/timeline`, key)]);
    document.getElementById("order-title").textContent = order.order_id;
    showSummary(order);
    showShipTo(order);
    fillTable("lines", order.line_items.map((l) => [
      [l.sku], [l.unit_price, true], [l.quantity, true], [l.committed, true], [l.backordered, true],
      [l.shipped, true], [l.delivered, true], [l.cancelled, true], [l.return_requested, true], [l.returned, true],
    ]));
    fillTable("timeline", timeline.events.map((e) => [
      [e.position, true], [when(e.occurred_at)], [when(e.recorded_at)], [e.summary], [e.actor], [e.correlation_id],
    ]));
    message.textContent = `${timeline.events.length} events`;
    section.hidden = false;
    history.replaceState(null, "", `?order=${id}`);
  } catch (error) {
    message.className = "error";
    message.textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("lookup");
  const keyInput = document.getElementById("api-key");
  const orderInput = document.getElementById("order-id");
  keyInput.value = sessionStorage.getItem(KEY_STORE) || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, keyInput.value.trim());
    lookUp(keyInput.value.trim(), orderInput.value.trim());
  });
  const wanted = new URLSearchParams(location.search).get("order");
  if (wanted) {
    orderInput.value = wanted;
    if (keyInput.value) lookUp(keyInput.value, wanted);
  }
});
