// Dashboard pages of one area, registered with the shell (see main.js): {name, label, page, detail?}.
import * as alerts from "./b_alerts.js";
import * as endpoints from "./b_endpoints.js";
import * as services from "./b_services.js";

export const PAGES = [
  { name: "services", label: "Services", page: services, detail: services.detail },
  { name: "endpoints", label: "Endpoints", page: endpoints },
  { name: "alerts", label: "Alerts", page: alerts },
];
