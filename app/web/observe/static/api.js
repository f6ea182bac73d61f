// The API, same origin: bearer tokens kept in IndexedDB (the app stays signed in offline),
// the refresh token rotated on every use. A refresh token that the server refuses (reused,
// expired, unknown) signs the resident out cleanly: the tokens are dropped, the records stay
// on the phone for the next sign-in.
import * as db from "./db.js";

const BASE = "/api/v1";
const listeners = new Set();

export class SignedOut extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

export class Offline extends Error {}

export class OtherAccountPending extends Error {}

export class Problem extends Error {
  constructor(status, body) {
    super(body && body.code ? body.code : `http.${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || `http.${status}`;
  }
}

export function onSignOut(listener) {
  listeners.add(listener);
}

export async function session() {
  return (await db.get("meta", "session")) || null;
}

async function keep(tokens, user) {
  const previous = await session();
  const value = {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    expires_at: Date.now() + (tokens.expires_in || 0) * 1000,
    user: user || (previous && previous.user) || null,
  };
  await db.put("meta", value, "session");
  return value;
}

export async function signOut(code) {
  await db.remove("meta", "session");
  for (const listener of listeners) listener(code);
}

async function send(path, options = {}) {
  let answer;
  try {
    answer = await fetch(BASE + path, options);
  } catch (error) {
    throw new Offline(String(error));
  }
  return answer;
}

async function body(answer) {
  const type = answer.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await answer.json();
    } catch {
      return null;
    }
  }
  return null;
}

async function refresh(stale) {
  const run = async () => {
    const current = await session();
    if (!current) throw new SignedOut("auth.unauthenticated");
    // Another tab (or request) rotated the pair while this one waited: use its tokens.
    if (current.refresh_token !== stale.refresh_token) return current;
    if (!current.refresh_token) {
      // A pupil's token has no refresh: the class is joined again with its code.
      await signOut("auth.invalid_token");
      throw new SignedOut("auth.invalid_token");
    }
    const answer = await send("/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    });
    if (answer.status === 401 || answer.status === 422) {
      const problem = (await body(answer)) || {};
      await signOut(problem.code || "auth.invalid_refresh_token");
      throw new SignedOut(problem.code || "auth.invalid_refresh_token");
    }
    if (!answer.ok) throw new Problem(answer.status, await body(answer));
    return keep(await answer.json());
  };
  if (navigator.locks) return navigator.locks.request("sentinelles-refresh", run);
  return run();
}

// A request as the signed-in resident; JSON in and out. Throws Offline, SignedOut or Problem.
export async function call(path, { method = "GET", json, form, auth = true } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  let payload;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (form !== undefined) {
    payload = form;
  }
  let current = auth ? await session() : null;
  if (auth && !current) throw new SignedOut("auth.unauthenticated");
  if (current && current.expires_at - 30_000 < Date.now()) current = await refresh(current);
  for (let attempt = 0; ; attempt += 1) {
    if (current) headers.Authorization = `Bearer ${current.access_token}`;
    const answer = await send(path, { method, headers, body: payload });
    if (answer.status === 401 && current && attempt === 0) {
      current = await refresh(current);
      continue;
    }
    const data = await body(answer);
    if (!answer.ok) throw new Problem(answer.status, data);
    return { status: answer.status, data };
  }
}

// The phone changes hands: nothing of the previous account's stays, but what it has not sent
// yet is never thrown away (nor sent in another's name). `account` names the new one.
async function adopt(account) {
  const previous = await db.get("meta", "account");
  if (previous && previous !== account) {
    const stores = await Promise.all(["observations", "sites", "visits"].map((n) => db.all(n)));
    if (stores.flat().some((r) => r.state === "queued" || r.state === "invalid")) {
      await db.remove("meta", "session");
      throw new OtherAccountPending();
    }
    await db.clear(["observations", "sites", "visits", "photos"]);
    await db.remove("meta", "last_sync");
  }
  await db.put("meta", account, "account");
}

// A pupil joins a class with its code and a pseudonym: no account, a token for the class
// (no refresh: when it expires or the class closes, the pupil joins again).
export async function joinClass(code, pseudonym) {
  const answer = await send("/classes/join", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, application/problem+json" },
    body: JSON.stringify({ join_code: code, pseudonym }),
  });
  const data = await body(answer);
  if (!answer.ok) throw new Problem(answer.status, data);
  await adopt(`pupil:${data.pupil_id}`);
  const user = { id: data.pupil_id, display_name: data.pseudonym, pupil: true, class_id: data.class_id };
  await db.put("meta", {
    access_token: data.access_token,
    refresh_token: null,
    expires_at: Date.now() + (data.expires_in || 0) * 1000,
    user,
  }, "session");
  return user;
}

export async function signIn(email, password) {
  const form = new URLSearchParams({ username: email, password });
  const answer = await send("/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  const data = await body(answer);
  if (!answer.ok) throw new Problem(answer.status, data);
  const kept = await keep(data);
  const me = await call("/me");
  await adopt(me.data.id);
  await db.put("meta", { ...kept, user: me.data }, "session");
  return me.data;
}

// `creditByName`: whether the published open data may name the person (a pseudonym otherwise).
export async function register(email, password, displayName, creditByName = false) {
  const answer = await send("/auth/register", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password, display_name: displayName, credit_by_name: !!creditByName }),
  });
  const data = await body(answer);
  if (!answer.ok) throw new Problem(answer.status, data);
  return signIn(email, password);
}
