-- bench/pace.lua: a fixed, moderate rate for wrk's latency scenarios.
-- Each connection waits 5 ms between an answer and its next request, so
-- 4 connections send about 750 requests/s, far below what any server here
-- can do: the latency measured is that of a lone request, not of a queue.
-- (wrk times each request from its send, so the wait is not counted.)
function delay()
   return 5
end
