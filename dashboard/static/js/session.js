// Sign-in with an API token when the API requires auth (GET/POST/DELETE /api/session).
// The token goes to the server once and comes back as an HttpOnly cookie: page scripts never keep it.
// body[data-role] carries the signed-in role, so controls marked data-needs="editor"|"admin" hide for
// lower roles (the API refuses them anyway).
import { h, replace } from "./dom.js";

const ROLES = ["viewer", "editor", "admin"];

export async function currentSession() {
  try {
    const resp = await fetch("/api/session", { headers: { Accept: "application/json" } });
    if (resp.ok) return await resp.json();
  } catch (e) { /* the API is down: let the pages show their own errors */ }
  return { auth: "off", signed_in: true, name: "anonymous", role: "admin" };
}

/** Whether the signed-in role is at least `needed`. */
export function allows(needed) {
  const role = document.body.dataset.role || "admin";
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Show who is signed in (and a sign-out button) in `slot`; set body[data-role]. */
export function showSession(session, slot) {
  document.body.dataset.role = session.role || "viewer";
  if (session.auth !== "required" || !session.signed_in) {
    replace(slot);
    return;
  }
  const out = h("button", { type: "button", class: "link-button" }, "Sign out");
  out.addEventListener("click", async () => {
    await fetch("/api/session", { method: "DELETE" });
    location.reload();
  });
  replace(slot, h("span", { class: "who" }, `${session.name} (${session.role})`), out);
}

/** Replace `view` by the sign-in form; reloads the page once signed in. */
export function showSignIn(view, reason) {
  const input = h("input", { id: "signin-token", type: "password", autocomplete: "off", required: true,
                             spellcheck: "false", placeholder: "vgl_…" });
  const message = h("p", { class: "error-box", role: "alert", hidden: true });
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", null, reason || "This Vigil requires an API token. Create one with ",
      h("code", null, "vigil token create --role viewer --name me"), "."),
    h("label", { for: "signin-token" }, "API token"), input,
    h("button", { type: "submit" }, "Sign in"), message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    message.hidden = true;
    const resp = await fetch("/api/session", { method: "POST", headers: { "Content-Type": "application/json" },
                                               body: JSON.stringify({ token: input.value.trim() }) });
    if (resp.ok) {
      location.reload();
      return;
    }
    let text = `HTTP ${resp.status}`;
    try {
      text = (await resp.json()).error || text;
    } catch (err) { /* keep the status */ }
    message.textContent = text;
    message.hidden = false;
    input.focus();
  });
  replace(view, form);
  input.focus();
}
