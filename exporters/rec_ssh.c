/* rec_ssh.c - the "ssh" object of a ssh event record (DESIGN §5). STUB: being written. */
#include "record.h"

void iw_rec_ssh(struct iw_json *j, const struct iw_event *ev)
{
	(void)j;
	(void)ev;
}
