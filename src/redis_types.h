/* redis_types.h: the types of redis.h that redis.c's private header
 * (redis_conn.h) needs too, apart so that header does not include redis.h.
 * Documented in redis.h. */
#ifndef FG_REDIS_TYPES_H
#define FG_REDIS_TYPES_H
#include <stddef.h>
#include <hiredis/hiredis.h>

enum redis_state { REDIS_DOWN, REDIS_CONNECTING, REDIS_UP };

enum redis_outcome {
	REDIS_REPLY,      /* REPLY is Redis's answer, not an error reply */
	REDIS_ERROR,      /* Redis answered with an error; REPLY->str says which */
	REDIS_TIMEOUT,    /* no answer in time: unknown whether it ran; REPLY NULL */
	REDIS_GONE,       /* the connection closed first: unknown too; REPLY NULL */
};
/* REPLY is valid only during the call. */
typedef void (*redis_reply_fn)(enum redis_outcome o, const redisReply *reply, void *arg);

enum redis_sub_event { REDIS_SUB_SUBSCRIBED, REDIS_SUB_MESSAGE, REDIS_SUB_DROPPED };
typedef void (*redis_sub_fn)(enum redis_sub_event ev, const char *msg, size_t len, void *arg);
#endif
