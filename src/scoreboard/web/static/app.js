// The live leaderboard page: any board's top 10 over Server-Sent Events, and a signed-in player's own corner.
"use strict";

const $ = (id) => document.getElementById(id);
const tokens = {
  get access() { return sessionStorage.getItem("sb.access"); },
  get refresh() { return sessionStorage.getItem("sb.refresh"); },
  set(pair) {
    sessionStorage.setItem("sb.access", pair.accessToken);
    sessionStorage.setItem("sb.refresh", pair.refreshToken);
  },
  clear() { sessionStorage.removeItem("sb.access"); sessionStorage.removeItem("sb.refresh"); },
};
let me = null; // the signed-in user, or null
let totalPlayers = null;
const GLOBAL = { id: "global", name: "All time", period: "all_time" }; // the seed's board, served by its own stream
const boards = { list: [GLOBAL], chosen: GLOBAL };
const WINNERS = { daily: "Yesterday's winners", weekly: "Last week's winners", monthly: "Last month's winners" };

// ---------------------------------------------------------------------------------------------------------------
// HTTP: JSON in and out; problem+json errors become readable messages; one token refresh on 401

class ApiError extends Error {
  constructor(message, status, problem) { super(message); this.status = status; this.problem = problem; }
}

function humanSeconds(seconds) {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function problemText(problem, response) {
  if (!problem) return `${response.status} ${response.statusText}`;
  let text = problem.detail || problem.title || `Error ${response.status}`;
  if (Array.isArray(problem.errors) && problem.errors.length) {
    text += " " + problem.errors.map((e) => `${(e.loc || []).slice(-1)[0] || ""}: ${e.msg}`).join("; ");
  }
  if (problem.availableAt) {
    text += ` Possible again ${new Date(problem.availableAt).toLocaleString([], { dateStyle: "short", timeStyle: "short" })}.`;
  } else if (response.status === 429 && response.headers.get("Retry-After")) {
    text += ` Try again in ${humanSeconds(Number(response.headers.get("Retry-After")))}.`;
  }
  return text;
}

async function api(path, { method = "GET", body, auth = false, headers = {} } = {}) {
  const options = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const send = () => {
    if (auth && tokens.access) options.headers.Authorization = `Bearer ${tokens.access}`;
    return fetch(path, options);
  };
  let response = await send();
  if (response.status === 401 && auth && tokens.refresh && (await refreshTokens())) response = await send();
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(problemText(data, response), response.status, data);
  return data;
}

// One refresh at a time: refresh tokens are single use, and a second concurrent use of the same one is treated
// by the server as theft (the whole session is revoked).
let refreshing = null;

function refreshTokens() {
  refreshing ??= (async () => {
    try {
      tokens.set(await api("/api/auth/refresh", { method: "POST", body: { refreshToken: tokens.refresh } }));
      return true;
    } catch {
      signedOut();
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function say(text, ok = false) {
  const box = $("message");
  box.textContent = text;
  box.classList.toggle("ok", ok);
  box.hidden = !text;
}

// ---------------------------------------------------------------------------------------------------------------
// The board: rows keyed by user id move smoothly (FLIP) and a changed score is highlighted

function renderRows(list, rows) {
  const before = new Map([...list.children].map((li) => [li.dataset.id, li.getBoundingClientRect().top]));
  const existing = new Map([...list.children].map((li) => [li.dataset.id, li]));
  const next = rows.map((row) => {
    let li = existing.get(row.userId);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = row.userId;
      li.innerHTML = '<span class="rank"></span><span class="name"></span><span class="score"></span>';
    }
    const score = li.querySelector(".score");
    if (li.dataset.score !== undefined && Number(li.dataset.score) !== row.score) {
      score.classList.remove("bumped");
      void score.offsetWidth; // restart the animation
      score.classList.add("bumped");
    }
    li.dataset.score = String(row.score);
    li.dataset.rank = String(row.rank);
    li.querySelector(".rank").textContent = `#${row.rank}`;
    li.querySelector(".name").textContent = row.username ?? "(unknown)";
    score.textContent = row.score.toLocaleString();
    li.classList.toggle("me", Boolean(me && row.userId === me.id));
    return li;
  });
  list.replaceChildren(...next);
  for (const li of next) {
    const top = before.get(li.dataset.id);
    if (top === undefined) {
      li.animate([{ opacity: 0 }, { opacity: 1 }], { duration: 400 });
    } else if (top !== li.getBoundingClientRect().top) {
      const dy = top - li.getBoundingClientRect().top;
      li.animate([{ transform: `translateY(${dy}px)` }, { transform: "none" }], { duration: 500, easing: "ease-out" });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Boards: the picker (remembered in the URL as #board=ID) and the last period's winners of boards that roll

const boardPath = (board) => `/api/boards/${encodeURIComponent(board.id)}`;

function boardInHash() {
  const match = /(?:^#|&)board=([^&]*)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : GLOBAL.id;
}

async function loadBoards() {
  try {
    const found = (await api("/api/boards")).boards;
    boards.list = found.some((board) => board.id === GLOBAL.id) ? found : [GLOBAL, ...found];
  } catch { /* the global board still works: its stream is the seed's */ }
  $("picker").replaceChildren(...boards.list.map((board) => {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "tab");
    button.dataset.board = board.id;
    button.textContent = board.name;
    if (board.description) button.title = board.description;
    button.addEventListener("click", () => { location.hash = `board=${encodeURIComponent(board.id)}`; });
    return button;
  }));
}

function selectBoard(id) {
  const board = boards.list.find((b) => b.id === id) ?? GLOBAL;
  const changed = board.id !== boards.chosen.id;
  boards.chosen = board;
  for (const button of $("picker").children) {
    button.setAttribute("aria-selected", String(button.dataset.board === board.id));
  }
  $("board-name").textContent = board.name;
  $("period").textContent = "";
  for (const li of $("my-boards").children) li.classList.toggle("chosen", li.dataset.board === board.id);
  if (changed) {
    totalPlayers = null;
    live.lastId = null; // event ids resume one stream, not another board's
    $("board").replaceChildren();
  }
  refreshWinners();
  return changed;
}

async function refreshWinners() {
  const board = boards.chosen;
  $("winners").hidden = !(board.period in WINNERS);
  if ($("winners").hidden) return;
  $("winners-title").firstChild.textContent = `${WINNERS[board.period]} `;
  try {
    const page = await api(`${boardPath(board)}/entries?period=previous&limit=3`);
    if (board === boards.chosen) renderWinners(page.entries, page.period);
  } catch {
    if (board === boards.chosen) renderWinners([], null);
  }
}

function renderWinners(rows, period) {
  $("winners-period").textContent = period ? `(${period})` : "";
  renderRows($("winners-list"), rows);
  $("winners-empty").hidden = rows.length > 0;
}

function renderBoard(rows, total) {
  if (typeof total === "number") totalPlayers = total;
  const players = totalPlayers === 1 ? "player" : "players";
  $("players").textContent = totalPlayers === null ? "" : `of ${totalPlayers.toLocaleString()} ${players}`;
  renderRows($("board"), rows);
  $("board-empty").hidden = rows.length > 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Live stream: EventSource reconnects by itself; a ticketed stream (signed in) is reopened with a fresh ticket

const live = { source: null, lastId: null, timer: null, attempt: 0, generation: 0 };

function setStatus(state, text) {
  $("status").className = `status ${state}`;
  $("status-text").textContent = text || state;
}

function scheduleReconnect(delay) {
  clearTimeout(live.timer);
  const wait = delay ?? Math.min(500 * 2 ** live.attempt++, 8000);
  setStatus("reconnecting", "reconnecting…");
  live.timer = setTimeout(connectLive, wait);
}

async function connectLive() {
  clearTimeout(live.timer);
  if (live.source) live.source.close();
  live.source = null;
  const generation = ++live.generation; // a later call supersedes this one, even if it finishes first
  const board = boards.chosen;
  let url = `${board.id === GLOBAL.id ? "/api/leaderboard" : boardPath(board)}/stream?limit=10`;
  if (tokens.access) {
    try {
      const { ticket } = await api("/api/leaderboard/stream-ticket", { method: "POST", auth: true });
      url += `&ticket=${encodeURIComponent(ticket)}`;
    } catch (error) {
      if (generation !== live.generation) return;
      if (!(error instanceof ApiError)) return scheduleReconnect(); // the server is away: try again soon
    }
  }
  if (generation !== live.generation) return;
  if (live.lastId) url += `&lastEventId=${live.lastId}`;
  const source = new EventSource(url);
  const ticketed = url.includes("ticket=");
  live.source = source;
  const track = (event) => { if (event.lastEventId) live.lastId = event.lastEventId; };
  source.onopen = () => { live.attempt = 0; setStatus("live", "live"); };
  source.onerror = () => {
    if (source !== live.source) return;
    // The browser would retry with the same URL, and a ticket works once: take over for ticketed streams.
    if (ticketed || source.readyState === EventSource.CLOSED) {
      source.close();
      scheduleReconnect();
    } else {
      setStatus("reconnecting", "reconnecting…");
    }
  };
  source.addEventListener("snapshot", (event) => {
    track(event);
    const data = JSON.parse(event.data);
    $("period").textContent = data.period && data.period !== "all" ? data.period : "";
    renderBoard(data.leaderboard, data.totalPlayers);
  });
  source.addEventListener("score_update", (event) => {
    track(event);
    const data = JSON.parse(event.data);
    renderBoard(data.leaderboard);
    if (me && data.userId === me.id) refreshMine();
  });
  // A result board (a game server's best or latest values): a submission or a removal moved its top.
  source.addEventListener("result_update", (event) => {
    const data = JSON.parse(event.data);
    renderBoard(data.leaderboard);
    if (me && data.userId === me.id) refreshMyBoards();
  });
  source.addEventListener("my_rank", (event) => {
    const data = JSON.parse(event.data);
    if (board.id === GLOBAL.id) {
      showStanding(data.rank, data.score);
      refreshAround();
    }
    showMyBoard(board.id, data);
  });
  // A board's period closed: its final top is now the last period's; a snapshot of the new period follows.
  source.addEventListener("period_end", (event) => {
    const data = JSON.parse(event.data);
    if (board.period in WINNERS) renderWinners(data.leaderboard.slice(0, 3), data.period);
    refreshMyBoards();
  });
  source.addEventListener("reconnect", (event) => {
    source.close();
    scheduleReconnect(JSON.parse(event.data).retryMs);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Signed in: my standing, neighbours, history, and buttons for the actions a player may report

function showStanding(rank, score) {
  $("my-rank").textContent = rank ? `#${rank}` : "–";
  $("my-score").textContent = typeof score === "number" ? score.toLocaleString() : "–";
}

async function refreshAround() {
  if (!me) return;
  try {
    const page = await api(`/api/leaderboard/around/${me.id}?radius=2`);
    renderRows($("around"), page.entries);
  } catch { /* the board is public; a failure here is shown on the next update */ }
}

async function refreshHistory() {
  const page = await api("/api/users/me/history?limit=8", { auth: true });
  $("history").replaceChildren(...page.items.map((item) => {
    const li = document.createElement("li");
    const when = new Date(item.createdAt).toLocaleTimeString();
    li.innerHTML = "<span></span><span></span>";
    li.firstChild.textContent = `${item.actionName ?? item.actionId} · ${when}`;
    li.lastChild.textContent = `+${item.pointsAwarded}`;
    return li;
  }));
}

// My rank on every board: one small read each (404: no score in its current period yet).
async function refreshMyBoards() {
  if (!me) return;
  const standings = await Promise.all(boards.list.map(async (board) => {
    try {
      return await api(`${boardPath(board)}/me`, { auth: true });
    } catch (error) {
      return error.status === 404 ? null : undefined;
    }
  }));
  if (!me) return;
  $("my-boards").replaceChildren(...boards.list.map((board, n) => {
    const li = document.createElement("li");
    li.dataset.board = board.id;
    li.innerHTML = '<span class="name"></span><span class="place"></span>';
    li.firstChild.textContent = board.name;
    li.classList.toggle("chosen", board.id === boards.chosen.id);
    showMyBoard(board.id, standings[n], li);
    return li;
  }));
}

function showMyBoard(boardId, standing, li = $("my-boards").querySelector(`li[data-board="${CSS.escape(boardId)}"]`)) {
  if (!li) return;
  const text = li.querySelector(".place");
  if (standing === null) {
    text.textContent = "not ranked yet";
  } else if (standing) {
    text.textContent = `#${standing.rank} · ${standing.score.toLocaleString()}`;
  }
  li.classList.toggle("unranked", standing === null);
}

async function refreshMine() {
  if (!me) return;
  try {
    const [standing] = await Promise.all([
      api("/api/leaderboard/me", { auth: true }),
      refreshAround(),
      refreshHistory(),
      refreshMyBoards(),
    ]);
    showStanding(standing.rank, standing.score);
  } catch (error) {
    if (error.status === 401) signedOut();
  }
}

async function loadActions() {
  const actions = (await api("/api/actions")).filter((action) => action.clientReportable);
  $("actions").replaceChildren(...actions.map((action) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = action.id;
    button.textContent = `${action.name} (+${action.points})`;
    button.addEventListener("click", () => perform(action, button));
    return button;
  }));
}

async function perform(action, button) {
  button.disabled = true;
  try {
    const award = await api("/api/scores", {
      method: "POST",
      auth: true,
      body: { actionId: action.id },
      headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    say(`${action.name}: +${award.scoreChange}! Score ${award.newScore.toLocaleString()}, rank #${award.rank}.`, true);
    showStanding(award.rank, award.newScore);
    refreshMine();
  } catch (error) {
    say(`${action.name}: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function signedIn() {
  me = await api("/api/users/me", { auth: true });
  $("my-name").textContent = me.username;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  await Promise.all([loadActions(), refreshMine()]);
  connectLive(); // reopen with a ticket: my_rank events from now on
}

function signedOut() {
  tokens.clear();
  me = null;
  $("my-boards").replaceChildren();
  $("signed-out").hidden = false;
  $("signed-in").hidden = true;
}

async function onLogin(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    tokens.set(await api("/api/auth/login", {
      method: "POST",
      body: { login: form.get("login"), password: form.get("password") },
    }));
    say("");
    await signedIn();
  } catch (error) {
    say(error.message);
  }
}

async function onRegister(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { username: form.get("username"), email: form.get("email"), password: form.get("password") };
  try {
    await api("/api/auth/register", { method: "POST", body });
    tokens.set(await api("/api/auth/login", { method: "POST", body: { login: body.username, password: body.password } }));
    say(`Welcome, ${body.username}!`, true);
    await signedIn();
  } catch (error) {
    say(error.message);
  }
}

async function onLogout() {
  try {
    await api("/api/auth/logout", { method: "POST", auth: true });
  } catch { /* the session ends client-side regardless */ }
  signedOut();
  say("Logged out.", true);
  connectLive();
}

function showTab(register) {
  $("tab-login").setAttribute("aria-selected", String(!register));
  $("tab-register").setAttribute("aria-selected", String(register));
  $("login-form").hidden = register;
  $("register-form").hidden = !register;
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", onLogin);
  $("register-form").addEventListener("submit", onRegister);
  $("logout").addEventListener("click", onLogout);
  $("tab-login").addEventListener("click", () => showTab(false));
  $("tab-register").addEventListener("click", () => showTab(true));
  await loadBoards();
  selectBoard(boardInHash());
  window.addEventListener("hashchange", () => { if (selectBoard(boardInHash())) connectLive(); });
  if (tokens.access) {
    try {
      await signedIn();
      return;
    } catch {
      signedOut();
    }
  }
  connectLive();
});
