import { fileURLToPath } from "node:url";
import { z } from "zod";

/** Where tool servers keep their files when BATON_TOOLS_DATA_DIR is unset: `.baton/tools-data` in the repository. */
export const defaultDataDir = fileURLToPath(new URL("../../.baton/tools-data", import.meta.url));

/** The BATON_TOOLS_DATA_DIR setting: a directory path, created on first write. */
export const dataDirSetting = z.string().min(1).default(defaultDataDir);
