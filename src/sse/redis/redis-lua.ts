// Pieces of Lua that the module's Redis scripts share, pasted at the top of each script.

/** Milliseconds of Redis's own clock, so that every instance agrees on time. */
export const LUA_NOW = `
local redis_time = redis.call('TIME')
local now = tonumber(redis_time[1]) * 1000 + math.floor(tonumber(redis_time[2]) / 1000)
`;

/** Event ids (`<ms>-<seq>`) in Lua: parse one, tell whether one comes before another. */
export const LUA_EVENT_IDS = `
local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local a_ms, a_seq = parse_id(a)
  local b_ms, b_seq = parse_id(b)
  return a_ms < b_ms or (a_ms == b_ms and a_seq < b_seq)
end
`;
