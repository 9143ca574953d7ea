// Allure 3 settings for `flowtest report`: one self-contained HTML file, history kept across runs.
// flowtest labels each failure with its category ("failure"); the categories below sort by it.
import { defineConfig } from "allure";

const category = (name, label) => ({ name, matchers: { labels: { failure: `^${label}$` } } });

export default defineConfig({
  name: "flowtest conversations",
  output: "./reports/allure-report",
  historyPath: "./reports/history.jsonl",
  categories: [
    category("Known issues", "known issue"), // xfail scenarios, counted as skipped, as pytest does
    category("Conversation mismatch", "conversation mismatch"),
    category("Variable mismatch", "variable mismatch"),
    category("Status mismatch", "status mismatch"),
    category("Latency budget", "latency budget"),
    category("API error", "API error"),
    category("Transport error", "transport error"),
    category("Broken scenario file", "broken scenario file"),
    category("Flowtest internal error", "flowtest internal error"),
  ],
  plugins: {
    awesome: { options: { singleFile: true, reportLanguage: "en", groupBy: ["parentSuite", "suite"] } },
  },
});
