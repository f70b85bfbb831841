// Any route the dashboard does not know.
import { h, replace } from "../dom.js";

export function mount(ctx) {
  replace(ctx.view,
    h("h1", null, "Page not found"),
    h("p", null, "No dashboard page lives at this address. ", h("a", { href: "#/" }, "Go to the overview"), "."));
  return {};
}
