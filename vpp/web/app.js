// Start-up: log in with an API key, ask the service who it belongs to (/v1/me), show
// that role's view.

import { ApiError, context, session, whoAmI } from "./api.js";
import { el, fill, message } from "./dom.js";
import { fmtDateTime, fmtTime } from "./format.js";

const VIEWS = {
  operator: { title: "Operator", load: () => import("./operator.js") },
  enterprise: { title: "Enterprise", load: () => import("./enterprise.js") },
  grid: { title: "Grid company", load: () => import("./grid.js") },
  admin: { title: "Administrator", load: () => import("./admin.js") },
};

const main = document.getElementById("main");
const who = document.getElementById("who");
const actions = document.getElementById("actions");
let stopView = () => {};

function logout() {
  stopView();
  session.clear();
  showLogin();
}

function showLogin(problem) {
  fill(who);
  fill(actions);
  const input = el("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "vpp_…",
  });
  const status = el("p", { class: "error", role: "alert" }, problem ?? "");
  const form = el(
    "form",
    { id: "login", class: "panel login", method: "post", action: "/" },
    el("h2", {}, "Log in"),
    el("label", { for: "api-key" }, "API key"),
    input,
    el("button", { type: "submit" }, "Log in"),
    status,
    el(
      "p",
      { class: "muted" },
      "The key stays in this tab's session storage and is sent only as a Bearer header; " +
        "closing the tab forgets it.",
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    status.textContent = "Checking the key…";
    try {
      await whoAmI(key); // a 401 here: unknown, revoked or expired
      session.save(key);
      await start();
    } catch (error) {
      status.textContent =
        error instanceof ApiError && error.status === 401
          ? "This key is unknown, revoked or expired."
          : `Could not log in: ${error.message}`;
    }
  });
  fill(main, form);
  input.focus();
}

async function start() {
  stopView();
  if (!session.key) {
    showLogin();
    return;
  }
  fill(main, message("Loading…"));
  try {
    const ctx = await context();
    const view = VIEWS[ctx.role];
    if (!view) throw new Error(`no view for the role ${ctx.role}`);
    fill(who, ...header(ctx, view));
    fill(
      actions,
      el("button", { type: "button", class: "secondary", id: "refresh", onclick: start }, "Refresh"),
      el("button", { type: "button", class: "secondary", id: "logout", onclick: logout }, "Log out"),
    );
    const module = await view.load();
    fill(main);
    main.dataset.view = ctx.role;
    stopView = (await module.render(main, ctx)) ?? (() => {});
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      session.clear();
      showLogin("The key is no longer valid; log in again.");
      return;
    }
    fill(main, message(`Could not load the dashboard: ${error.message}`, "error"));
  }
}

/** The role, the account's name, the service's market day and clock (as last read). */
function header(ctx, view) {
  const expires = ctx.me.key_expires_at;
  return [
    el("span", { class: "role", "data-role": ctx.role }, view.title),
    " · ",
    el("span", { class: "account", title: `Account ${ctx.me.account_id}` }, ctx.me.account_name),
    el(
      "span",
      { class: "muted clock" },
      ` · market day ${ctx.today} · service time ${fmtTime(ctx.now)}`,
      expires ? ` · key expires ${fmtDateTime(expires)}` : "",
    ),
  ];
}

start();
