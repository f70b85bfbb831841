// Dashboard pages of one area, registered with the shell (see main.js): {name, label, page, detail?}.
import * as frontend from "./c_frontend.js";

export const PAGES = [
  { name: "frontend", label: "Frontend", page: frontend },
];
