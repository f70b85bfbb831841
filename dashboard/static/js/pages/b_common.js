// Shared helpers of the Services, Endpoints and Alerts pages: a state-changing JSON request that
// surfaces the API's error text, and a per-load abort controller tied to the page's signal.

export { loader, sendJson } from "../api.js";
