-- bench/policy.lua: a create request for 1,000 vehicles that the bench
-- tenant's policy refuses (the scaling stacks allow 10 of those VINs).
-- All the work is fleetgate's (reading a 45 KB body, parsing the JSON,
-- checking 1,000 VINs), none the upstream's and little wrk's: the path on
-- which the number of workers shows.
local v = {}
for i = 1, 1000 do
   v[i] = string.format('{"vin":"EXVEBENCH%08d","brand":"sandbox"}', i)
end
wrk.method = "POST"
wrk.body = '{"vehicles":[' .. table.concat(v, ",") .. ']}'
wrk.headers["Content-Type"] = "application/json"
