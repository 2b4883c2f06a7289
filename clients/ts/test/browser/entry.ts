// What the browser test loads into its page: the package's browser entry point, as `openpact`.
export * from "@openpact/client";
