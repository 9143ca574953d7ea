// Allure 3 settings for `flowtest report`: one self-contained HTML file, history kept across runs.
import { defineConfig } from "allure";

export default defineConfig({
  name: "flowtest conversations",
  output: "./reports/allure-report",
  historyPath: "./reports/history.jsonl",
  plugins: {
    awesome: { options: { singleFile: true, reportLanguage: "en", groupBy: ["parentSuite", "suite"] } },
  },
});
