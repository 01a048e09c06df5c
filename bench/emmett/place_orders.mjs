// The peer on Emmett's PostgreSQL event store, on the same workload as ours: each of `callers`
// concurrent callers places orders of 3 distinct SKUs of `skus`, one unit each, for `seconds`.
// Placing one reads its three stock streams (aggregateStream), checks that a unit is available,
// appends the reservation to each stock stream with the version it read, then the order to its
// own stream: Emmett appends one stream per transaction, so that is four transactions, and a
// conflict on the second or third leaves the first reserved (the order is retried, not undone).
// Usage: node place_orders.mjs CONNECTION_STRING CALLERS SECONDS SKUS; prints one JSON line.
import pg from "pg";
import { getPostgreSQLEventStore } from "@event-driven-io/emmett-postgresql";
import { STREAM_DOES_NOT_EXIST, isExpectedVersionConflictError } from "@event-driven-io/emmett";

const [url, callers, seconds, skus] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const pool = new pg.Pool({ connectionString: url, max: callers });
const store = getPostgreSQLEventStore(url, { connectionOptions: { pool, pooled: true } });

const evolve = (state, { type, data }) =>
  type === "StockReceived" ? { available: state.available + data.quantity }
  : type === "StockReserved" ? { available: state.available - data.quantity }
  : state;
const initialState = () => ({ available: 0 });

const sample = (n, k) => {
  const chosen = new Set();
  while (chosen.size < k) chosen.add(1 + Math.floor(Math.random() * n));
  return [...chosen];
};

async function place(orderId, chosen) {
  const read = await Promise.all(
    chosen.map((sku) => store.aggregateStream(`stock-S${sku}`, { evolve, initialState })),
  );
  read.forEach(({ state }, i) => {
    if (state.available < 1) throw new Error(`S${chosen[i]}: none available`);
  });
  for (let i = 0; i < chosen.length; i++) {
    await store.appendToStream(`stock-S${chosen[i]}`, [{ type: "StockReserved", data: { orderId, quantity: 1 } }], {
      expectedStreamVersion: read[i].currentStreamVersion,
    });
  }
  await store.appendToStream(`order-${orderId}`, [{ type: "OrderPlaced", data: { orderId, lines: chosen.map((s) => ({ sku: `S${s}`, quantity: 1 })) } }], {
    expectedStreamVersion: STREAM_DOES_NOT_EXIST,
  });
}

async function main() {
  for (let start = 1; start <= skus; start += 50) {
    const batch = [];
    for (let n = start; n < Math.min(start + 50, skus + 1); n++) {
      batch.push(store.appendToStream(`stock-S${n}`, [{ type: "StockReceived", data: { quantity: 10_000_000 } }]));
    }
    await Promise.all(batch);
  }
  const latencies = [];
  let serial = 0, conflicts = 0;
  const stop = performance.now() + seconds * 1000;
  const caller = async () => {
    while (performance.now() < stop) {
      const orderId = `o${serial++}`;
      const chosen = sample(skus, 3);
      const started = performance.now();
      for (;;) {
        try { await place(orderId, chosen); break; }
        catch (error) { if (!isExpectedVersionConflictError(error)) throw error; conflicts++; }
      }
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  console.log(JSON.stringify({
    per_second: latencies.length / elapsed, p50_ms: at(50), p99_ms: at(99),
    conflicts_per_order: conflicts / Math.max(1, latencies.length),
  }));
  await store.close();
  await pool.end().catch(() => {});
}

main().catch((error) => { console.error(error); process.exit(1); });
