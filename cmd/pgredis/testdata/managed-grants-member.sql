-- Either (recommended): the worker acts as the owner, so it puts pgredis's
-- triggers on partitions created or attached later itself (only an owner
-- may create and ENABLE ALWAYS a trigger) and regenerates trigger functions.
GRANT {owner} TO {worker};
