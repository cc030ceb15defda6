// The administrator's view: accounts and keys are managed through the API and the
// `vpp` command; the dashboard only lists the market products.

import { el, fill, panel } from "./dom.js";
import { marketTable } from "./grid.js";

export async function render(root, ctx) {
  const accounts = panel("Accounts and keys", { id: "accounts" });
  const markets = panel("Market products", { id: "markets" });
  fill(root, accounts.section, markets.section);
  fill(
    accounts.body,
    el(
      "p",
      {},
      "Create accounts and keys with POST /v1/accounts and POST /v1/keys (see ",
      el("a", { href: "/docs" }, "the API documentation"),
      ") or the vpp command: vpp accounts create, vpp keys create.",
    ),
  );
  fill(markets.body, marketTable(ctx.markets));
  return () => {};
}
