// Start-up: log in with an API key, find the key's role, show that role's view.

import { ApiError, context, detectRole, session } from "./api.js";
import { el, fill, message } from "./dom.js";

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
      const role = await detectRole(key);
      session.save(key, role);
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
  const role = session.role;
  const view = VIEWS[role];
  if (!session.key || !view) {
    showLogin();
    return;
  }
  fill(main, message("Loading…"));
  try {
    const ctx = await context();
    fill(
      who,
      el("span", { class: "role", "data-role": role }, view.title),
      el("span", { class: "muted" }, ` · market day ${ctx.today} (Beijing, UTC+8)`),
    );
    fill(
      actions,
      el("button", { type: "button", class: "secondary", id: "refresh", onclick: start }, "Refresh"),
      el("button", { type: "button", class: "secondary", id: "logout", onclick: logout }, "Log out"),
    );
    const module = await view.load();
    fill(main);
    main.dataset.view = role;
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

start();
