/*
 * main.c: the halqa executable; all of it is in cli.c so tests can reach it.
 */
#include "halqa/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
