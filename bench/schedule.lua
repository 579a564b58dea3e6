-- wrk script: an open-loop schedule. Every line of a prepared file is one request sent at its own
-- moment (not as fast as the connections allow), so the offered load is the schedule's (bursts and lulls)
-- whatever the server does; wrk's latency is each request's own, from the moment it is sent.
-- Line format (tab-separated): AT-MS  METHOD  PATH  BEARER-TOKEN-OR-EMPTY  JSON-BODY-OR-EMPTY, sorted by
-- AT-MS (milliseconds after the start). Arguments after "--": <file> <threads> <start, Unix ms>.
-- Thread t sends lines t, t+threads, ... A request that goes out more than LATE_MS after its moment (all
-- connections were busy: the server fell behind) is counted as late; done() prints "Late: <n> <worst ms>"
-- and "Statuses: <status>=<count> ..." of the answers that were not 2xx.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } jifen_timespec;
int clock_gettime(int clock_id, jifen_timespec *tp);
]]
local clock = ffi.new("jifen_timespec")
local function now_ms()
  ffi.C.clock_gettime(0, clock) -- CLOCK_REALTIME: the same start for every thread
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local LATE_MS = 100
local at, lines = {}, {}
local cursor, start = 1, 0
local queue, head, tail = {}, 1, 0
late, late_max = 0, 0
bad = {}
local threads = {}

function setup(thread)
  thread:set("thread_id", next_thread or 0)
  next_thread = (next_thread or 0) + 1
  table.insert(threads, thread)
end

function init(args)
  local stride = tonumber(args[2] or "1")
  start = tonumber(args[3])
  local i = 0
  for line in io.lines(args[1]) do
    if i % stride == (thread_id or 0) then
      local ms, rest = line:match("^(%d+)\t(.*)$")
      at[#at + 1] = tonumber(ms)
      lines[#lines + 1] = rest
    end
    i = i + 1
  end
end

-- wrk asks delay() before each request() of a connection: reserve the next line and wait for its moment.
-- Timers that fall due together may fire in another order; every line they send is due, so none goes early.
function delay()
  if cursor > #at then
    return 3600000 -- nothing left: idle until wrk's duration ends
  end
  tail = tail + 1
  queue[tail] = cursor
  local wait = start + at[cursor] - now_ms()
  cursor = cursor + 1
  if wait < 0 then
    return 0
  end
  return math.floor(wait)
end

function request()
  local i = queue[head]
  if i == nil then -- wrk's own check of the script (no line reserved): a request it never sends
    return wrk.format("GET", "/healthz")
  end
  queue[head] = nil
  head = head + 1
  local behind = now_ms() - (start + at[i])
  if behind > LATE_MS then
    late = late + 1
  end
  if behind > late_max then
    late_max = behind
  end
  local method, path, bearer, body = lines[i]:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = { ["Content-Type"] = "application/json" }
  if bearer ~= "" then
    headers["Authorization"] = "Bearer " .. bearer
  end
  if body == "" then
    body = nil
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  if status >= 300 then
    bad[status] = (bad[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local n, worst, statuses = 0, 0, {}
  for _, thread in ipairs(threads) do
    n = n + (thread:get("late") or 0)
    worst = math.max(worst, thread:get("late_max") or 0)
    for status, count in pairs(thread:get("bad") or {}) do
      statuses[status] = (statuses[status] or 0) + count
    end
  end
  io.write(string.format("Late: %d %.0f\n", n, worst))
  local parts = {}
  for status, count in pairs(statuses) do
    parts[#parts + 1] = string.format("%d=%d", status, count)
  end
  io.write("Statuses: " .. table.concat(parts, " ") .. "\n")
end
