-- wrk script: every request is the next line of a prepared file, so no two requests repeat.
-- Line format (tab-separated): METHOD  PATH  BEARER-TOKEN-OR-EMPTY  JSON-BODY-OR-EMPTY
-- Arguments after "--": <file> <first line> <threads>. Thread t sends lines first+t, first+t+threads...
local lines = {}
local cursor = 0
local stride = 1
local served = 0
local errors = 0

function setup(thread)
  thread:set("thread_id", next_thread or 0)
  next_thread = (next_thread or 0) + 1
end

function init(args)
  for line in io.lines(args[1]) do
    lines[#lines + 1] = line
  end
  stride = tonumber(args[3] or "1")
  cursor = tonumber(args[2] or "0") + (thread_id or 0)
end

function request()
  local line = lines[(cursor % #lines) + 1]
  cursor = cursor + stride
  local method, path, bearer, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = { ["Content-Type"] = "application/json" }
  if bearer ~= "" then
    headers["Authorization"] = "Bearer " .. bearer
  end
  if body == "" then
    body = nil
  end
  return wrk.format(method, path, headers, body)
end
