"""What a class did: its observations for its teacher, the teacher's check, its yearly summary
and the erasure of its pupils' pseudonyms from its records. Above classes, observations and
surveys, which it reads, so that none of those needs to know the others."""
