// Dashboard pages of one area, registered with the shell (see main.js): {name, label, page, detail?}.
import * as logs from "./a_logs.js";
import * as errors from "./a_errors.js";
import * as errorIssue from "./a_error_issue.js";
import * as database from "./a_database.js";
import * as system from "./a_system.js";

export const PAGES = [
  { name: "logs", label: "Logs", page: logs },
  { name: "errors", label: "Errors", page: errors, detail: errorIssue },
  { name: "database", label: "Database", page: database },
  { name: "system", label: "System", page: system },
];
