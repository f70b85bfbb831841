// Dashboard pages of one area, registered with the shell (see main.js): {name, label, page, detail?}.
export const PAGES = [];
