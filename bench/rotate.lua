-- bench/rotate.lua: every request reads another VIN of the bench fleet
-- (EXVEBENCH00000001 .. EXVEBENCH00001000, all in the bench tenant's VIN
-- file), so with [cache] ttl = 0 every read is a cache miss that goes
-- upstream: the cost of a miss, not of a hit.
local n = 0
request = function()
   n = n % 1000 + 1
   return wrk.format("GET", string.format("/v1/fleets/vehicles/EXVEBENCH%08d", n))
end
