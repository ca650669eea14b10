-- As the provider's admin role: {owner} runs pgredis migrate up and owns
-- the synced tables, {worker} runs pgredis worker and resync, {app} writes.
GRANT CONNECT, CREATE ON DATABASE {db} TO {owner};
GRANT CONNECT ON DATABASE {db} TO {worker}, {app};
