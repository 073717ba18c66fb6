// OpenClaw's own runtime-JWT client and inbound handler (fork commit 714b97af4) against openclaw-mux.
// Copied into the OpenClaw tree by tests/peer/openclaw714_live.py, which starts the mux and the fake Telegram.
// Only config loading, the agent dispatch and the device identity are replaced (as in mux-http.test.ts); the
// registration, the sends, typing, JWKS fetching and JWT verification are OpenClaw's real code over real HTTP.
import http from "node:http";
import { afterAll, expect, test, vi } from "vitest";

const MUX = process.env.D1_MUX_URL!;
const ADMIN = process.env.D1_ADMIN!;
const REGISTER_KEY = process.env.D1_REGISTER_KEY!;
const SECRET = process.env.D1_TG_SECRET!;
const OPENCLAW_ID = process.env.D1_OPENCLAW_ID!;
const CHAT = Number(process.env.D1_CHAT);

const state = vi.hoisted(() => ({
  cfg: {} as Record<string, unknown>,
  dispatched: [] as Array<Record<string, unknown>>,
  answers: [] as Array<{ status: number; body: string }>,
}));

vi.mock("../config/config.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../config/config.js")>();
  return { ...actual, loadConfig: () => state.cfg };
});
vi.mock("../auto-reply/dispatch.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../auto-reply/dispatch.js")>();
  return {
    ...actual,
    dispatchInboundMessage: async (params: { ctx: Record<string, unknown> }) => {
      state.dispatched.push(params.ctx);
      return { queuedFinal: false, counts: { tool: 0, block: 0, final: 0 } };
    },
  };
});
vi.mock("../infra/device-identity.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../infra/device-identity.js")>();
  return {
    ...actual,
    loadOrCreateDeviceIdentity: () => ({ deviceId: OPENCLAW_ID, publicKeyPem: "x", privateKeyPem: "x" }),
  };
});

const { handleMuxInboundHttpRequest } = await import("./mux-http.js");
const { sendViaMux, sendTypingViaMux, startMuxRuntimeRegistrationLoop } = await import(
  "../channels/plugins/outbound/mux.js"
);

let updateId = 900_000;
function update(text: string) {
  updateId += 1;
  return {
    update_id: updateId,
    message: {
      message_id: updateId % 100_000,
      date: Math.trunc(Date.now() / 1000),
      chat: { id: CHAT, type: "private", first_name: "Ada" },
      from: { id: CHAT, is_bot: false, first_name: "Ada" },
      text,
    },
  };
}
async function webhook(text: string) {
  const resp = await fetch(`${MUX}/v1/webhooks/telegram`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET },
    body: JSON.stringify(update(text)),
  });
  expect(resp.status).toBe(200);
}
async function until<T>(probe: () => T | undefined | false, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const server = http.createServer((req, res) => {
  const end = res.end.bind(res);
  (res as { end: unknown }).end = (chunk?: unknown) => {
    state.answers.push({ status: res.statusCode, body: String(chunk ?? "") });
    return end(chunk as string);
  };
  void handleMuxInboundHttpRequest(req, res).then((handled) => {
    if (!handled) {
      res.statusCode = 404;
      res.end("not found");
    }
  });
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
const port = (server.address() as { port: number }).port;
afterAll(() => server.close());

test("OpenClaw 714b97af4 registers, pairs, receives, sends and survives a key rotation", async () => {
  state.cfg = {
    gateway: {
      http: {
        endpoints: {
          mux: {
            enabled: true,
            baseUrl: MUX,
            registerKey: REGISTER_KEY,
            inboundUrl: `http://127.0.0.1:${port}/v1/mux/inbound`,
          },
        },
      },
    },
    channels: { telegram: { accounts: { default: { enabled: true, mux: { enabled: true, timeoutMs: 10_000 } } } } },
  };
  const logs: string[] = [];
  const stop = startMuxRuntimeRegistrationLoop({
    cfg: state.cfg as never,
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
  });
  await until(() => logs.find((l) => l.includes("registered instance")), "registration");
  console.log("[d1] registration loop:", logs.join(" | "));

  const minted = await fetch(`${MUX}/v1/admin/pairings/token`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ openclawId: OPENCLAW_ID, channel: "telegram" }),
  });
  expect(minted.status).toBe(200);
  await webhook(((await minted.json()) as { startCommand: string }).startCommand);

  await webhook("hello from telegram");
  const ctx = await until(() => state.dispatched.find((c) => c.Body === "hello from telegram"), "inbound");
  console.log("[d1] inbound answers:", JSON.stringify(state.answers));
  const sessionKey = String(ctx.SessionKey);
  expect(sessionKey).toBe(`agent:main:telegram:direct:${CHAT}`);

  const sent = await sendViaMux({ cfg: state.cfg as never, channel: "telegram", sessionKey, text: "reply 1" });
  console.log("[d1] sendViaMux:", JSON.stringify(sent));
  expect(sent.messageId).toBeTruthy();
  await sendTypingViaMux({ cfg: state.cfg as never, channel: "telegram", sessionKey });

  // Emergency rotation (new key signs at once): OpenClaw's jose cache fetched the JWKS seconds ago and refuses
  // to refetch for 5 minutes, so the first forward is refused with 401 JWT_INVALID and the mux retries it.
  const rotated = await fetch(`${MUX}/v1/admin/signing-keys/rotate`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ activateAfterSec: 0 }),
  });
  expect(rotated.status).toBe(200);
  const before = state.answers.length;
  await webhook("after rotation");
  await until(() => state.answers.slice(before).find((a) => a.status === 401), "a refusal during the cooldown");
  console.log("[d1] during cooldown:", JSON.stringify(state.answers.slice(before)));
  // Let jose's 5-minute cooldown pass (only Date moves; the mux's token is 5 min + 60 s tolerance old at most).
  vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 301_000 });
  const late = await until(() => state.dispatched.find((c) => c.Body === "after rotation"), "inbound after rotation");
  vi.useRealTimers();
  console.log("[d1] after cooldown:", JSON.stringify(state.answers.slice(before)), "body:", late.Body);

  // The runtime token cached before the rotation (old kid) still sends.
  const again = await sendViaMux({ cfg: state.cfg as never, channel: "telegram", sessionKey, text: "reply 2" });
  expect(again.messageId).toBeTruthy();
  stop();
});
