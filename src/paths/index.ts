export {
  DEFAULT_LIMITS,
  S3_LIMITS,
  RESERVED_TOP_LEVEL_NAME,
  PATH_INVALID,
  PATH_RESERVED,
  validatePath,
  isValidPath,
  utf8ByteLength,
  type PathLimits,
} from './path-rules.js';
export {
  parentOf,
  baseName,
  joinPath,
  ancestorsOf,
  isSameOrDescendant,
  isStrictDescendant,
  rebase,
  escapeLike,
  likePrefixPattern,
} from './path-ops.js';
export { escapeForMessage } from './escape.js';
